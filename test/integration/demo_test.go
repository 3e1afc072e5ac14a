package integration_test

import (
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/wardenhq/warden/internal/echo"
)

// TestDemoOpenAISDK runs `warden serve --demo` as a user would and uses the
// tokens and the data-plane address its banner prints with the OpenAI Go SDK:
// an allowed and redacted chat completion, a denial, and /v1/models filtered
// per role. (The demo's echo upstream cannot report the headers it receives;
// TestOpenAISDK checks the upstream side with its own upstream.)
func TestDemoOpenAISDK(t *testing.T) {
	needBinary(t)
	srv := startServe(t, "--demo", "--data-dir", t.TempDir())
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(srv.stdout.String(), "Stop with Ctrl-C") {
		if time.Now().After(deadline) {
			t.Fatalf("no demo banner after 20s\nstdout:\n%s\nstderr:\n%s", srv.stdout, srv.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	banner := srv.stdout.String()
	data := regexp.MustCompile(`data plane   (http://\S+)`).FindStringSubmatch(banner)
	if data == nil || data[1] != srv.data {
		t.Fatalf("banner data plane %q, want %s:\n%s", data, srv.data, banner)
	}
	tokens := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  export (\w+)=(\S+)$`).FindAllStringSubmatch(banner, -1) {
		tokens[strings.ToLower(m[1])] = m[2]
	}
	var names []string
	for _, p := range personas() {
		names = append(names, p.name)
	}
	if got := slices.Sorted(maps.Keys(tokens)); !slices.Equal(got, slices.Sorted(slices.Values(names))) {
		t.Fatalf("banner tokens for %q, want the reference roles %q", got, names)
	}
	client := func(persona string) openai.Client {
		return openai.NewClient(option.WithBaseURL(data[1]+"/v1/"), option.WithAPIKey(tokens[persona]), option.WithMaxRetries(0))
	}
	chat := func(model string) openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello, Warden")}}
	}

	eve := client("eve")
	resp, err := eve.Chat.Completions.New(t.Context(), chat("gpt-4o"))
	if err != nil {
		t.Fatalf("eve gpt-4o: %v", err)
	}
	if got := resp.Choices[0].Message.Content; !strings.Contains(got, "[REDACTED:email]") || strings.Contains(got, echo.SampleEmail) || strings.Contains(got, echo.SampleSecret) {
		t.Errorf("eve gpt-4o content %q, want the email and key redacted", got)
	}

	oscar := client("oscar")
	_, err = oscar.Chat.Completions.New(t.Context(), chat("gpt-4o"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || !strings.Contains(apiErr.Message, "models:premium") {
		t.Errorf("oscar gpt-4o: err %v (%+v), want 403 naming models:premium", err, apiErr)
	}

	// Derived from the bundle the demo embeds, the same as examples/policy.
	want := invocableModels(t, examplePolicy(t))
	for _, p := range []string{"sam", "eve", "oscar"} {
		c := client(p)
		page, err := c.Models.List(t.Context())
		if err != nil {
			t.Fatalf("%s: Models.List: %v", p, err)
		}
		var got []string
		for _, m := range page.Data {
			got = append(got, m.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want[p]) {
			t.Errorf("%s sees %q, want %q", p, got, want[p])
		}
	}
	srv.stop(t)
}
