package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeListsEveryKey keeps the configuration tables of the READMEs in step with Keys.
func TestReadmeListsEveryKey(t *testing.T) {
	for _, name := range []string{"README.md", "README.zh-CN.md"} {
		path := filepath.Join("..", "..", name)
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) && name != "README.md" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}

		for _, key := range Keys {
			if !strings.Contains(string(data), "| `"+key.Name+"` |") {
				t.Errorf("%s has no table row for key %s", name, key.Name)
			}
		}
	}
}
