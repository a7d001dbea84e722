package psu

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html"
)

// This file reads and changes parsed pages (x/net/html nodes) as the form driver needs.

// parsePage parses a page of the bank. The values of type, method and enctype are put in
// lower case: HTML compares them without case, in selectors too (Chromium's
// [type=submit] matches type="Submit"), where cascadia compares every value as written.
// The form driver reads these three without case anyway.
func parsePage(r io.Reader) (*html.Node, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return nil, err
	}
	walkElements(doc, func(n *html.Node) bool {
		for i, a := range n.Attr {
			if a.Namespace == "" && (a.Key == "type" || a.Key == "method" || a.Key == "enctype") {
				n.Attr[i].Val = strings.ToLower(a.Val)
			}
		}
		return true
	})
	return doc, nil
}

// walkElements visits the elements under root in document order until visit says stop.
func walkElements(root *html.Node, visit func(*html.Node) bool) bool {
	for c := root.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && !visit(c) {
			return false
		}
		if !walkElements(c, visit) {
			return false
		}
	}
	return true
}

// attr returns the value of an attribute of n (names are lower case after parsing).
func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func setAttr(n *html.Node, name, val string) {
	for i, a := range n.Attr {
		if a.Namespace == "" && a.Key == name {
			n.Attr[i].Val = val
			return
		}
	}
	n.Attr = append(n.Attr, html.Attribute{Key: name, Val: val})
}

func removeAttr(n *html.Node, name string) {
	out := n.Attr[:0]
	for _, a := range n.Attr {
		if a.Namespace != "" || a.Key != name {
			out = append(out, a)
		}
	}
	n.Attr = out
}

func hasAttr(n *html.Node, name string) bool {
	_, ok := attr(n, name)
	return ok
}

// textContent is the text under n, as the DOM's textContent.
func textContent(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.TextNode {
				b.WriteString(c.Data)
			}
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// describeElement names an element for an error: <button name=action value=accept>.
func describeElement(n *html.Node) string {
	var b strings.Builder
	b.WriteString("<" + n.Data)
	for _, k := range []string{"id", "type", "name", "value"} {
		if v, ok := attr(n, k); ok && !(k == "value" && isSecretInput(n)) {
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
	}
	b.WriteString(">")
	return b.String()
}

// isSecretInput says whether the value of n may hold a PSU credential, which an error
// must not show.
func isSecretInput(n *html.Node) bool {
	if n.Data == "textarea" {
		return true
	}
	if n.Data != "input" {
		return false
	}
	t, _ := attr(n, "type")
	switch strings.ToLower(t) {
	case "submit", "button", "reset", "image", "checkbox", "radio", "hidden":
		return false
	}
	return true
}
