package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeepSaveOpenTake(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s.Keep(Token{Bank: "https://b/token", ClientID: "PSDFR-ACPR-12345", AccessToken: "at-1", ExpiresAt: now.Add(time.Hour), IssuedByRun: "run-1"})
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode: expected 0600, found %v", info.Mode().Perm())
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if exp, ok := s2.Pending("https://b/token", "PSDFR-ACPR-12345"); !ok || !exp.Equal(now.Add(time.Hour).Round(0)) && exp.Sub(now.Add(time.Hour)).Abs() > time.Second {
		t.Errorf("pending: %v %v", exp, ok)
	}
	if _, ok := s2.TakeExpired("https://b/token", "PSDFR-ACPR-12345", now, time.Second); ok {
		t.Error("a token that has not expired was taken")
	}
	if _, ok := s2.TakeExpired("https://other/token", "PSDFR-ACPR-12345", now.Add(2*time.Hour), 0); ok {
		t.Error("a token of another bank was taken")
	}
	tok, ok := s2.TakeExpired("https://b/token", "PSDFR-ACPR-12345", now.Add(2*time.Hour), time.Second)
	if !ok || tok.AccessToken != "at-1" || tok.IssuedByRun != "run-1" {
		t.Errorf("take: %+v %v", tok, ok)
	}
	if _, ok := s2.Pending("https://b/token", "PSDFR-ACPR-12345"); ok {
		t.Error("the taken token is still pending")
	}
}

func TestOpenRefusesAReadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte(`{"tokens":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("expected a refusal naming chmod 600, found %v", err)
	}
}

func TestRefreshPool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.KeepRefresh(Refresh{Bank: "b", ClientID: "c", RefreshToken: "rt-old"})
	s.KeepRefresh(Refresh{Bank: "b", ClientID: "c", RefreshToken: "rt-new"})
	s.KeepRefresh(Refresh{Bank: "other", ClientID: "c", RefreshToken: "rt-other"})
	if _, ok := s.TakeRefresh("b", "c"); ok {
		t.Error("a refresh token kept in this run was taken by the same run")
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rt-new", "rt-old"} {
		r, ok := s2.TakeRefresh("b", "c")
		if !ok || r.RefreshToken != want {
			t.Errorf("expected %s, found %+v %v", want, r, ok)
		}
	}
	if _, ok := s2.TakeRefresh("b", "c"); ok {
		t.Error("a refresh token of another bank was taken")
	}
}

// A registration kept for a later run is taken by a later run only, for the same register
// API, registrant and check, and survives the file's round trip.
func TestRegistrationsForALaterRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.KeepRegistration(Registration{Register: "r", Registrant: "tpp", For: "REG-01", ClientID: "c1", Token: "rat", KeptByRun: "run1"})
	if _, ok := s.TakeRegistration("r", "tpp", "REG-01"); ok {
		t.Error("the run that kept a registration took it back")
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range [][3]string{{"other", "tpp", "REG-01"}, {"r", "other", "REG-01"}, {"r", "tpp", "REG-02"}} {
		if _, ok := s2.TakeRegistration(other[0], other[1], other[2]); ok {
			t.Errorf("taken for %v", other)
		}
	}
	if r, ok := s2.TakeRegistration("r", "tpp", "REG-01"); !ok || r.ClientID != "c1" || r.Token != "rat" {
		t.Errorf("expected the kept registration, found %+v %v", r, ok)
	}
	if _, ok := s2.TakeRegistration("r", "tpp", "REG-01"); ok {
		t.Error("a registration was taken twice")
	}
}
