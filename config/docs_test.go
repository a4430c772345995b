package config

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/corralcache/corral/region"
)

// TestDocsReference checks docs/config.md, the reference of the file: it
// names every field, and its complete example loads (Open connects to
// nothing, so no server is needed).
func TestDocsReference(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flatNames() {
		if !strings.Contains(string(doc), "`"+f+"`") {
			t.Errorf("docs/config.md does not name the field `%s`", f)
		}
	}
	for _, v := range []string{EnvPrefix, EnvDefaultsPrefix} {
		if !strings.Contains(string(doc), v) {
			t.Errorf("docs/config.md does not name %s", v)
		}
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n# corral.yaml\n")
	if !ok {
		t.Fatal("docs/config.md has no complete corral.yaml example")
	}
	example, _, _ := strings.Cut(rest, "```")
	got := map[string]region.Config{}
	rs, err := Parse("docs/config.md", []byte(example), Options{
		Environ: []string{"REDIS_PASSWORD=pw", "CORRAL_KEY_1=" + strings.Repeat("a", 64), "CORRAL_KEY_2=" + strings.Repeat("b", 64)},
		Configure: func(name string, c *region.Config) error {
			c.Logger = slog.New(slog.DiscardHandler)
			got[name] = *c
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if u := got["users"]; u.Near.MaxEntries != 10000 || u.Keyring == nil || !u.EarlyRefresh.Enabled {
		t.Errorf("users %+v", u)
	}
}
