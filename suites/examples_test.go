package suites

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.yaml.in/yaml/v3"
)

// The CI examples and the container image are what a bank copies into its pipeline: they
// must parse, run the gate, upload the reports, and cache the state file without ever
// uploading it (it holds live tokens).
var _ = Describe("the stetconform command in a bank's pipeline", func() {
	load := func(name string) map[string]any {
		data, err := os.ReadFile(filepath.Join("..", "examples", "ci", name))
		Expect(err).NotTo(HaveOccurred())
		var doc map[string]any
		Expect(yaml.Unmarshal(data, &doc)).To(Succeed(), name)
		return doc
	}
	// stateVar is the variable --state names in a run command: "$STATE_FILE" -> STATE_FILE.
	stateRe := regexp.MustCompile(`--state "?\$\{?(\w+)\}?"?`)
	checkRun := func(cmd string) string {
		Expect(cmd).To(And(ContainSubstring("stetconform run --bank "), ContainSubstring("--baseline "), ContainSubstring("--out reports")))
		m := stateRe.FindStringSubmatch(cmd)
		Expect(m).NotTo(BeNil(), "the run keeps no state file: %s", cmd)
		return m[1]
	}
	checkArtifacts := func(paths []string, stateFile string) {
		Expect(paths).To(ContainElements("reports/junit.xml", "reports/report.html"))
		stateDir := filepath.Dir(stateFile)
		for _, p := range paths {
			Expect(p).NotTo(Or(HavePrefix(stateDir), ContainSubstring("state")), "the state file holds live tokens: never an artifact")
		}
	}

	It("has a GitHub Actions workflow that gates, uploads the reports and caches the state file", func() {
		doc := load("github-actions.yml")
		Expect(doc).To(HaveKey("on"))
		jobs, ok := doc["jobs"].(map[string]any)
		Expect(ok).To(BeTrue(), "jobs")
		Expect(jobs).To(HaveLen(1))
		var job map[string]any
		for _, j := range jobs {
			job = j.(map[string]any)
		}
		env := job["env"].(map[string]any)
		var stateFile string
		var restored, saved, uploaded bool
		for _, s := range job["steps"].([]any) {
			step := s.(map[string]any)
			uses, _ := step["uses"].(string)
			with, _ := step["with"].(map[string]any)
			switch {
			case strings.Contains(fmtAny(step["run"]), "stetconform run"):
				stateFile = fmtAny(env[checkRun(fmtAny(step["run"]))])
				Expect(stateFile).NotTo(BeEmpty())
			case strings.HasPrefix(uses, "actions/cache/restore@"):
				Expect(stateFile).To(BeEmpty(), "the cache is restored after the run")
				Expect(with["path"]).To(Equal(".stetconform-state"))
				restored = true
			case strings.HasPrefix(uses, "actions/cache/save@"):
				Expect(stateFile).To(HavePrefix(with["path"].(string) + "/"))
				Expect(step["if"]).To(Equal("always()"), "the state is kept when the gate fails")
				saved = true
			case strings.HasPrefix(uses, "actions/upload-artifact@"):
				Expect(step["if"]).To(Equal("always()"), "the reports of a failed gate are what people read")
				checkArtifacts(strings.Fields(with["path"].(string)), stateFile)
				uploaded = true
			}
		}
		Expect([]bool{restored, saved, uploaded}).To(Equal([]bool{true, true, true}))
	})

	It("has a GitLab CI job that gates, keeps the reports and caches the state file", func() {
		doc := load("gitlab-ci.yml")
		job := doc["stet-conformance"].(map[string]any)
		var script []string
		for _, l := range job["script"].([]any) {
			script = append(script, l.(string))
		}
		var stateVar string
		for _, l := range script {
			if strings.Contains(l, "stetconform run") {
				stateVar = checkRun(l)
			}
		}
		stateFile := fmtAny(job["variables"].(map[string]any)[stateVar])
		Expect(stateFile).NotTo(BeEmpty())
		cache := job["cache"].(map[string]any)
		Expect(cache["when"]).To(Equal("always"))
		Expect(cache["paths"]).To(ContainElement(filepath.Dir(stateFile) + "/"))
		artifacts := job["artifacts"].(map[string]any)
		Expect(artifacts["when"]).To(Equal("always"))
		Expect(artifacts["reports"]).To(HaveKeyWithValue("junit", "reports/junit.xml"))
		var paths []string
		for _, p := range artifacts["paths"].([]any) {
			paths = append(paths, p.(string))
		}
		checkArtifacts(paths, stateFile)
	})

	It("has a multi-stage Dockerfile with chromium in the runtime, documented in the README", func() {
		data, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
		Expect(err).NotTo(HaveOccurred())
		text := string(data)
		froms := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(text, -1)
		Expect(froms).To(HaveLen(2), "a build stage and a runtime stage")
		runtime := text[froms[1][0]:]
		Expect(runtime).To(And(MatchRegexp(`apt-get install [^\n]*\bchromium\b`), ContainSubstring("COPY --from=build"),
			ContainSubstring(`ENTRYPOINT ["stetconform"]`), MatchRegexp(`(?m)^USER `)))
		readme, err := os.ReadFile(filepath.Join("..", "README.md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(readme)).To(MatchRegexp(`docker run [^\n]*(\\\n[^\n]*)*-v "\$PWD/[^"]*:/work/bank:ro"(.|\n)*-v "\$PWD/reports:/work/reports"`))
	})

	It("builds the container image, with chromium for the browser driver", func() {
		docker, err := exec.LookPath("docker")
		if err != nil {
			Skip("docker is not available on this machine: the image is built where it is")
		}
		// A docker client without a daemon (or without the right to reach it) builds nothing.
		if out, err := exec.Command(docker, "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
			Skip("docker is installed but its daemon cannot be reached (" + strings.TrimSpace(string(out)) + "): the image is built where it can be")
		}
		tag := "stetconform-suites:test"
		build := exec.Command(docker, "build", "-t", tag, "..")
		build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
		Expect(build.Run()).To(Succeed())
		DeferCleanup(func() { _ = exec.Command(docker, "rmi", "-f", tag).Run() })
		out, err := exec.Command(docker, "run", "--rm", tag, "--version").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("stetconform"))
		out, err = exec.Command(docker, "run", "--rm", "--entrypoint", "chromium", tag, "--version").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("Chromium"))
	})
})

func fmtAny(v any) string {
	s, _ := v.(string)
	return s
}
