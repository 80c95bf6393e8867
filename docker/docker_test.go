package docker

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/natwatch/natwatch/internal/config"
)

type composeFile struct {
	Name     string `yaml:"name"`
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Restart     string            `yaml:"restart"`
		Build       *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		DependsOn []string `yaml:"depends_on"`
		Volumes   []string `yaml:"volumes"`
		Ports     []string `yaml:"ports"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()

	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose composeFile
	decoder := yaml.NewDecoder(strings.NewReader(string(data)))
	decoder.KnownFields(true)
	if err := decoder.Decode(&compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return compose
}

func TestComposeServices(t *testing.T) {
	compose := loadCompose(t)

	var names []string
	for name := range compose.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"fluent-bit", "grafana", "influxdb", "loggen"}) {
		t.Errorf("services = %v", names)
	}

	images := map[string]string{
		"influxdb": "influxdb:1.8.10",
		"grafana":  "grafana/grafana-oss:",
		"loggen":   "busybox:",
	}
	for service, prefix := range images {
		if !strings.HasPrefix(compose.Services[service].Image, prefix) {
			t.Errorf("service %s: image %q, want %s…", service, compose.Services[service].Image, prefix)
		}
	}

	for name, service := range compose.Services {
		for _, dependency := range service.DependsOn {
			if _, ok := compose.Services[dependency]; !ok {
				t.Errorf("service %s depends on %q, which is not a service", name, dependency)
			}
		}
		for _, port := range service.Ports {
			if !strings.HasPrefix(port, "127.0.0.1:") {
				t.Errorf("service %s publishes %q on every interface; bind it to 127.0.0.1", name, port)
			}
		}
	}
}

func TestComposeReferencedFilesExist(t *testing.T) {
	compose := loadCompose(t)

	mounted := map[string]string{}
	for name, service := range compose.Services {
		for _, volume := range service.Volumes {
			parts := strings.Split(volume, ":")
			if len(parts) < 2 {
				t.Errorf("service %s: volume %q is not source:target", name, volume)
				continue
			}
			source, target := parts[0], parts[1]
			mounted[target] = source
			if !strings.HasPrefix(source, ".") {
				if _, ok := compose.Volumes[source]; !ok {
					t.Errorf("service %s: named volume %q is not declared", name, source)
				}
				continue
			}
			if _, err := os.Stat(source); err != nil {
				t.Errorf("service %s mounts %s: %v", name, source, err)
			}
		}
	}

	wantMounts := map[string]string{
		"/etc/grafana/provisioning/datasources": "../dashboards/provisioning/datasources",
		"/etc/grafana/provisioning/dashboards":  "../dashboards/provisioning/dashboards",
		"/etc/grafana/provisioning/alerting":    "../dashboards/provisioning/alerting",
		"/var/lib/grafana/dashboards/natwatch":  "../dashboards",
		"/loggen/iptables.log":                  "../testdata/sample/iptables.log",
	}
	for target, source := range wantMounts {
		if mounted[target] != source {
			t.Errorf("%s is mounted from %q, want %s", target, mounted[target], source)
		}
	}

	build := compose.Services["fluent-bit"].Build
	if build == nil {
		t.Fatal("service fluent-bit has no build section")
	}
	if _, err := os.Stat(filepath.Join(build.Context, build.Dockerfile)); err != nil {
		t.Errorf("fluent-bit build: %v", err)
	}
	if build.Context != ".." || build.Dockerfile != "docker/Dockerfile" {
		t.Errorf("fluent-bit build = %+v, want context .. and docker/Dockerfile", *build)
	}
}

// TestDockerfile checks that every COPY source exists in the build context, that the plugin is
// built as a c-shared library in a Debian 12 Go image and loaded with -e.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var lines []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}

	var froms []string
	for _, line := range lines {
		fields := strings.Fields(line)
		switch fields[0] {
		case "FROM":
			froms = append(froms, fields[1])
		case "COPY":
			if strings.HasPrefix(fields[1], "--from=") {
				continue
			}
			for _, source := range fields[1 : len(fields)-1] {
				if _, err := os.Stat(filepath.Join("..", source)); err != nil {
					t.Errorf("%s: %v", line, err)
				}
			}
		}
	}
	if !slices.Equal(froms, []string{"${GO_IMAGE}", "${FLUENT_BIT_IMAGE}"}) {
		t.Errorf("FROM lines = %v, want the Go build stage, then the Fluent Bit image", froms)
	}

	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"ARG GO_IMAGE=golang:1.26-bookworm",
		"ARG FLUENT_BIT_IMAGE=fluent/fluent-bit:",
		"go build -trimpath -buildmode=c-shared -o /out/natwatch.so ./plugin",
		`"-e", "/fluent-bit/plugins/natwatch.so"`,
		"COPY docker/fluent-bit.yaml /fluent-bit/etc/fluent-bit.yaml",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// fluentBitOwnKeys are the output keys that Fluent Bit itself consumes, so they never reach natwatch.
var fluentBitOwnKeys = []string{"name", "match", "match_regex", "alias", "workers", "retry_limit", "log_level"}

func TestFluentBitConfig(t *testing.T) {
	data, err := os.ReadFile("fluent-bit.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Pipeline struct {
			Inputs  []map[string]any `yaml:"inputs"`
			Outputs []map[string]any `yaml:"outputs"`
		} `yaml:"pipeline"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Pipeline.Inputs) != 1 || len(file.Pipeline.Outputs) != 1 {
		t.Fatalf("%d inputs and %d outputs, want 1 and 1", len(file.Pipeline.Inputs), len(file.Pipeline.Outputs))
	}

	input := file.Pipeline.Inputs[0]
	if input["name"] != "tail" || input["path"] != "/var/log/natwatch-demo/kern.log" {
		t.Errorf("input = %v, want a tail of the file loggen writes", input)
	}

	output := file.Pipeline.Outputs[0]
	if output["name"] != "natwatch" {
		t.Fatalf("output name = %v, want natwatch", output["name"])
	}
	settings := map[string]string{}
	for key, value := range output {
		if slices.Contains(fluentBitOwnKeys, strings.ToLower(key)) {
			continue
		}
		if !isConfigKey(key) {
			t.Errorf("output key %q is not a natwatch configuration key", key)
		}
		settings[strings.ToLower(key)] = value.(string)
	}

	cfg, err := config.FromProperties(func(key string) string { return settings[strings.ToLower(key)] })
	if err != nil {
		t.Fatalf("natwatch rejects the configuration: %v", err)
	}
	if cfg.InfluxURL != "http://influxdb:8086" || cfg.InfluxBucket != "natwatch" || cfg.Gateway != "edge-gw01" {
		t.Errorf("config = %+v", cfg)
	}
}

func isConfigKey(key string) bool {
	for _, k := range config.Keys {
		if strings.EqualFold(k.Name, key) {
			return true
		}
	}
	return false
}

func TestLoggenScript(t *testing.T) {
	data, err := os.ReadFile("loggen.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := string(data)
	for _, want := range []string{"out=/var/log/natwatch-demo/kern.log", "/loggen/iptables.log", "strftime("} {
		if !strings.Contains(script, want) {
			t.Errorf("loggen.sh lacks %q", want)
		}
	}
}
