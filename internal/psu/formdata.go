package psu

import (
	"bytes"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// This file does what a browser does with a form, following the HTML standard
// ("constructing the entry list", "form submission algorithm"), on a parsed page:
// setting the value of a control, and building the request of a submit button.

// formRequest is the next request of a journey.
type formRequest struct {
	method      string
	url         *url.URL
	body        []byte
	contentType string
	referer     string
	origin      string // sent with a POST, as browsers do
}

// fillControl sets the value of a form control as the PSU would by typing or choosing.
// Values are credentials: no error repeats them.
func fillControl(n *html.Node, value string) error {
	switch n.Data {
	case "input":
		switch t := inputType(n); t {
		case "checkbox", "radio":
			on, ok := parseChecked(value)
			if !ok {
				return fmt.Errorf("%s is a %s: fill it with true or false", describeElement(n), t)
			}
			if !on {
				removeAttr(n, "checked")
				return nil
			}
			if t == "radio" {
				uncheckRadioGroup(n)
			}
			setAttr(n, "checked", "")
			return nil
		case "submit", "image", "reset", "button", "file":
			return fmt.Errorf("%s cannot be filled (a %s input)", describeElement(n), t)
		}
		setAttr(n, "value", value)
		return nil
	case "textarea":
		for c := n.FirstChild; c != nil; c = n.FirstChild {
			n.RemoveChild(c)
		}
		n.AppendChild(&html.Node{Type: html.TextNode, Data: value})
		return nil
	case "select":
		var chosen *html.Node
		for _, o := range options(n) {
			if optionValue(o) == value && chosen == nil {
				chosen = o
			}
		}
		if chosen == nil {
			return fmt.Errorf("no <option> of %s has the value given", describeElement(n))
		}
		for _, o := range options(n) {
			removeAttr(o, "selected")
		}
		setAttr(chosen, "selected", "")
		return nil
	}
	return fmt.Errorf("%s cannot be filled: select an input, a textarea or a select", describeElement(n))
}

func parseChecked(v string) (on, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "on", "yes", "checked", "1":
		return true, true
	case "false", "off", "no", "unchecked", "0", "":
		return false, true
	}
	return false, false
}

func uncheckRadioGroup(n *html.Node) {
	name, _ := attr(n, "name")
	form := formOwner(n)
	root := n
	for root.Parent != nil {
		root = root.Parent
	}
	walkElements(root, func(o *html.Node) bool {
		if o != n && o.Data == "input" && inputType(o) == "radio" && formOwner(o) == form {
			if on, _ := attr(o, "name"); on == name {
				removeAttr(o, "checked")
			}
		}
		return true
	})
}

func inputType(n *html.Node) string {
	t, _ := attr(n, "type")
	t = strings.ToLower(strings.TrimSpace(t))
	if t == "" {
		return "text"
	}
	return t
}

func options(sel *html.Node) []*html.Node {
	var opts []*html.Node
	walkElements(sel, func(o *html.Node) bool {
		if o.Data == "option" {
			opts = append(opts, o)
		}
		return true
	})
	return opts
}

func optionValue(o *html.Node) string {
	if v, ok := attr(o, "value"); ok {
		return v
	}
	return strings.Join(strings.Fields(textContent(o)), " ")
}

// formOwner is the form a control belongs to: the one its form attribute names, else
// its nearest form ancestor.
func formOwner(n *html.Node) *html.Node {
	if id, ok := attr(n, "form"); ok {
		root := n
		for root.Parent != nil {
			root = root.Parent
		}
		var f *html.Node
		walkElements(root, func(e *html.Node) bool {
			if v, ok := attr(e, "id"); ok && v == id {
				f = e
				return false
			}
			return true
		})
		if f != nil && f.Data == "form" {
			return f
		}
		return nil
	}
	for a := n.Parent; a != nil; a = a.Parent {
		if a.Type == html.ElementNode && a.Data == "form" {
			return a
		}
	}
	return nil
}

// disabled is true for a control that is disabled itself or inside a disabled fieldset.
func disabled(n *html.Node) bool {
	if hasAttr(n, "disabled") {
		return true
	}
	for a := n.Parent; a != nil; a = a.Parent {
		if a.Type == html.ElementNode && a.Data == "fieldset" && hasAttr(a, "disabled") {
			return true
		}
	}
	return false
}

func insideDatalist(n *html.Node) bool {
	for a := n.Parent; a != nil; a = a.Parent {
		if a.Type == html.ElementNode && a.Data == "datalist" {
			return true
		}
	}
	return false
}

// isSubmitter says whether pressing n submits its form.
func isSubmitter(n *html.Node) bool {
	switch n.Data {
	case "button":
		t, _ := attr(n, "type")
		// A missing or invalid type means submit.
		t = strings.ToLower(strings.TrimSpace(t))
		return t != "button" && t != "reset"
	case "input":
		t := inputType(n)
		return t == "submit" || t == "image"
	}
	return false
}

type entry struct {
	name, value string
	file        bool
}

// submission builds the request a browser sends when the PSU presses submitter on the
// page at pageURL.
func submission(doc, submitter *html.Node, pageURL *url.URL) (*formRequest, error) {
	if !isSubmitter(submitter) {
		if submitter.Data == "a" {
			return linkRequest(doc, submitter, pageURL)
		}
		return nil, fmt.Errorf("%s does not submit a form: press a <button> or an <input type=submit> (a button run by JavaScript needs the browser driver)", describeElement(submitter))
	}
	if disabled(submitter) {
		return nil, fmt.Errorf("%s is disabled", describeElement(submitter))
	}
	form := formOwner(submitter)
	if form == nil {
		return nil, fmt.Errorf("%s is not inside a <form> (a button run by JavaScript needs the browser driver)", describeElement(submitter))
	}
	base := documentBase(doc, pageURL)

	method := formAttr(submitter, form, "method")
	switch method = strings.ToLower(method); method {
	case "", "get":
		method = http.MethodGet
	case "post":
		method = http.MethodPost
	case "dialog":
		return nil, errors.New("the form has method=dialog: it closes a dialog and sends nothing")
	default:
		method = http.MethodGet // an invalid method means GET in HTML
	}
	action := formAttr(submitter, form, "action")
	target := pageURL
	if strings.TrimSpace(action) != "" {
		u, err := base.Parse(strings.TrimSpace(action))
		if err != nil {
			return nil, fmt.Errorf("the form action %q is not a URL: %v", action, err)
		}
		target = u
	}
	entries := formEntries(doc, form, submitter)

	req := &formRequest{method: method, referer: referer(pageURL, target)}
	if method == http.MethodGet {
		u := *target
		u.RawQuery = urlencode(entries)
		req.url = &u
		return req, nil
	}
	req.url = target
	req.origin = pageURL.Scheme + "://" + pageURL.Host
	switch enc := strings.ToLower(strings.TrimSpace(formAttr(submitter, form, "enctype"))); enc {
	case "multipart/form-data":
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for _, e := range entries {
			var err error
			if e.file {
				_, err = w.CreateFormFile(e.name, "")
			} else {
				err = w.WriteField(e.name, e.value)
			}
			if err != nil {
				return nil, err
			}
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		req.body, req.contentType = buf.Bytes(), w.FormDataContentType()
	case "text/plain":
		var b strings.Builder
		for _, e := range entries {
			b.WriteString(e.name + "=" + e.value + "\r\n")
		}
		req.body, req.contentType = []byte(b.String()), "text/plain"
	default:
		req.body, req.contentType = []byte(urlencode(entries)), "application/x-www-form-urlencoded"
	}
	return req, nil
}

// linkRequest follows a link the PSU presses (some banks use a link to go on).
func linkRequest(doc, a *html.Node, pageURL *url.URL) (*formRequest, error) {
	href, ok := attr(a, "href")
	if !ok || strings.HasPrefix(strings.TrimSpace(href), "javascript:") {
		return nil, fmt.Errorf("%s is a link without a URL to follow (a link run by JavaScript needs the browser driver)", describeElement(a))
	}
	u, err := documentBase(doc, pageURL).Parse(strings.TrimSpace(href))
	if err != nil {
		return nil, fmt.Errorf("the link %q is not a URL: %v", href, err)
	}
	return &formRequest{method: http.MethodGet, url: u, referer: referer(pageURL, u)}, nil
}

// formAttr is the submitter's formX attribute when present, else the form's X.
func formAttr(submitter, form *html.Node, name string) string {
	if v, ok := attr(submitter, "form"+name); ok {
		return v
	}
	v, _ := attr(form, name)
	return v
}

// documentBase is the URL relative URLs of the page resolve against (<base href>).
func documentBase(doc *html.Node, pageURL *url.URL) *url.URL {
	var base *url.URL
	walkElements(doc, func(n *html.Node) bool {
		if n.Data == "base" {
			if href, ok := attr(n, "href"); ok {
				if u, err := pageURL.Parse(strings.TrimSpace(href)); err == nil {
					base = u
				}
				return false
			}
		}
		return true
	})
	if base == nil {
		return pageURL
	}
	return base
}

// referer is what a browser sends under its default policy
// (strict-origin-when-cross-origin): the page URL to its own origin, the origin elsewhere.
func referer(from, to *url.URL) string {
	if from.Scheme == "https" && to.Scheme != "https" {
		return ""
	}
	if from.Scheme == to.Scheme && from.Host == to.Host {
		u := *from
		u.Fragment, u.RawFragment, u.User = "", "", nil
		return u.String()
	}
	return from.Scheme + "://" + from.Host + "/"
}

// formEntries is the HTML entry list of form when submitter is pressed.
func formEntries(doc, form, submitter *html.Node) []entry {
	var entries []entry
	walkElements(doc, func(n *html.Node) bool {
		switch n.Data {
		case "input", "button", "select", "textarea":
		default:
			return true
		}
		if formOwner(n) != form || disabled(n) || insideDatalist(n) {
			return true
		}
		name, _ := attr(n, "name")
		if n.Data == "input" && inputType(n) == "image" {
			if n == submitter {
				prefix := ""
				if name != "" {
					prefix = name + "."
				}
				entries = append(entries, entry{name: prefix + "x", value: "0"}, entry{name: prefix + "y", value: "0"})
			}
			return true
		}
		if name == "" {
			return true
		}
		value, _ := attr(n, "value")
		switch n.Data {
		case "button":
			if n == submitter {
				entries = append(entries, entry{name: name, value: value})
			}
		case "textarea":
			entries = append(entries, entry{name: name, value: textContent(n)})
		case "select":
			for _, o := range selectedOptions(n) {
				entries = append(entries, entry{name: name, value: optionValue(o)})
			}
		case "input":
			switch t := inputType(n); t {
			case "submit":
				if n == submitter {
					entries = append(entries, entry{name: name, value: value})
				}
			case "reset", "button":
			case "checkbox", "radio":
				if hasAttr(n, "checked") {
					if _, ok := attr(n, "value"); !ok {
						value = "on"
					}
					entries = append(entries, entry{name: name, value: value})
				}
			case "file":
				entries = append(entries, entry{name: name, file: true})
			case "hidden":
				if strings.EqualFold(name, "_charset_") {
					value = "UTF-8"
				}
				entries = append(entries, entry{name: name, value: value})
			default:
				entries = append(entries, entry{name: name, value: value})
			}
		}
		return true
	})
	return entries
}

// selectedOptions are the options a select submits: those marked selected (the last
// one for a single select), else for a single select its first enabled option.
func selectedOptions(sel *html.Node) []*html.Node {
	var chosen []*html.Node
	opts := options(sel)
	for _, o := range opts {
		if hasAttr(o, "selected") && !disabled(o) {
			chosen = append(chosen, o)
		}
	}
	if hasAttr(sel, "multiple") {
		return chosen
	}
	if len(chosen) > 0 {
		return chosen[len(chosen)-1:]
	}
	for _, o := range opts {
		if !disabled(o) {
			return []*html.Node{o}
		}
	}
	return nil
}

// urlencode is application/x-www-form-urlencoded in entry order, with line breaks
// normalised to CRLF as HTML does.
func urlencode(entries []entry) string {
	var b strings.Builder
	for i, e := range entries {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(crlf(e.name)))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(crlf(e.value)))
	}
	return b.String()
}

func crlf(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}
