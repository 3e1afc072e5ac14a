package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/wardenhq/warden/internal/gateway"
)

// index is the sign-in page, or the token tools once signed in.
func (c *Console) index(r *http.Request, ex *exchange) error {
	if ss, _ := c.sessionOf(r); ss != nil {
		http.Redirect(ex.w, r, Prefix+"tokens", http.StatusSeeOther)
		return nil
	}
	return c.render(ex.w, "signin", http.StatusOK, pageData{})
}

// page serves a console page to a signed-in principal; without a session it
// sends the browser to the sign-in page.
func (c *Console) page(name, need string) handler {
	return func(r *http.Request, ex *exchange) error {
		err := c.authorize(r, ex, need)
		if errors.Is(err, errNoSession) {
			http.Redirect(ex.w, r, Prefix, http.StatusSeeOther)
			return nil
		}
		if err != nil {
			return err
		}
		return c.render(ex.w, name, http.StatusOK, pageData{})
	}
}

// asset serves the embedded styles and scripts.
func (c *Console) asset(r *http.Request, ex *exchange) error {
	name := r.PathValue("file")
	ext := path.Ext(name)
	if name != path.Base(name) || (ext != ".css" && ext != ".js") {
		return &gateway.Error{Status: http.StatusNotFound, Code: gateway.CodeNotFound, Message: "no such file"}
	}
	return c.serveFile(ex.w, name, http.StatusOK)
}

func (c *Console) serveFile(w http.ResponseWriter, name string, status int) error {
	b, err := fs.ReadFile(c.static, name)
	if err != nil {
		return &gateway.Error{Status: http.StatusNotFound, Code: gateway.CodeNotFound, Message: "no such file", Err: err}
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if path.Ext(name) == ".js" {
		ct = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// errorPage renders an error with the public message only.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, id string, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	var ge *gateway.Error
	if errors.As(err, &ge) && ge.Status >= 400 && ge.Status <= 599 {
		status, msg = ge.Status, ge.Message
	}
	if rerr := c.render(w, "error", status, pageData{Status: status, Message: msg, RequestID: id}); rerr != nil {
		c.logger.ErrorContext(r.Context(), "console error page", "request_id", id, "err", rerr)
		http.Error(w, msg, status)
	}
}

// page is one parsed page and what the layout needs to know about it.
type page struct {
	tmpl          *template.Template
	title, script string
	nav           bool
}

// parsePages parses every page with the layout, once.
func parsePages() (map[string]*page, error) {
	out := map[string]*page{
		"signin":     {title: "Sign in", script: "signin.js"},
		"tokens":     {title: "Token tools", script: "tokens.js", nav: true},
		"playground": {title: "Policy playground", script: "playground.js", nav: true},
		"audit":      {title: "Audit log", script: "audit.js", nav: true},
		"error":      {title: "Error"},
	}
	for name, p := range out {
		t, err := template.ParseFS(pageFiles, "pages/layout.html", "pages/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: page %s: %w", name, err)
		}
		p.tmpl = t
	}
	return out, nil
}

// pageData fills the layout and the page.
type pageData struct {
	Title, Page, Script string
	Nav                 bool
	Status              int
	Message, RequestID  string
}

// render executes a page into a buffer first, so that a template error
// becomes an error response rather than half a page.
func (c *Console) render(w http.ResponseWriter, name string, status int, d pageData) error {
	p := c.pages[name]
	if p == nil {
		return fmt.Errorf("console: no page %q", name)
	}
	d.Title, d.Page, d.Script, d.Nav = p.title, name, p.script, p.nav
	if name == "error" {
		d.Title = fmt.Sprintf("Error %d", status)
	}
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, "layout", d); err != nil {
		return fmt.Errorf("console: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// decodeJSON decodes a request body of exactly one JSON object into v;
// unknown fields are errors.
func decodeJSON(r *http.Request, v any) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return &gateway.Error{Status: http.StatusUnsupportedMediaType, Code: gateway.CodeInvalidRequest, Message: "the body must be application/json"}
	}
	return decodeBody(r.Body, v)
}

func decodeBody(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &gateway.Error{Status: http.StatusRequestEntityTooLarge, Code: gateway.CodeTooLarge, Message: fmt.Sprintf("the body exceeds %d bytes", maxBodyBytes)}
		}
		return &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: "the body is not a valid JSON request", Err: err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: "trailing data after the JSON request"}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("console: encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}
