package main

import (
	"fmt"
	"slices"
	"strings"
)

// locale translates the dashboards' visible texts. The English dashboards use the texts as
// written; the zh-CN dashboards look every text up in zhCN.
type locale struct {
	name    string            // "en" or "zh-CN"
	dir     string            // output directory below dashboards/, "" for English
	table   map[string]string // English text → translation; nil for English
	missing map[string]bool   // texts without a translation
}

// uidSuffixZH distinguishes the zh-CN dashboards' uids, so both languages can be provisioned
// into one Grafana.
const uidSuffixZH = "-zh"

func english() *locale {
	return &locale{name: "en"}
}

func chinese() *locale {
	return &locale{name: "zh-CN", dir: "zh-CN", table: zhCN, missing: map[string]bool{}}
}

// text returns the translation of en, or en itself for English. A text without a translation is
// recorded, and err reports it after the dashboards are built.
func (l *locale) text(en string) string {
	if l.table == nil || en == "" {
		return en
	}
	translated, ok := l.table[en]
	if !ok {
		l.missing[en] = true
		return en
	}
	return translated
}

// uid returns the dashboard uid for this locale.
func (l *locale) uid(uid string) string {
	if l.table == nil {
		return uid
	}
	return uid + uidSuffixZH
}

// err lists the texts that have no translation.
func (l *locale) err() error {
	if len(l.missing) == 0 {
		return nil
	}
	texts := make([]string, 0, len(l.missing))
	for text := range l.missing {
		texts = append(texts, fmt.Sprintf("%q", text))
	}
	slices.Sort(texts)
	return fmt.Errorf("%s: no translation for %s", l.name, strings.Join(texts, ", "))
}
