package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// node is a parsed YAML document, walked by path.
type node = map[string]any

func get(t *testing.T, v any, path string) any {
	t.Helper()
	for _, key := range strings.Split(path, ".") {
		switch x := v.(type) {
		case node:
			var ok bool
			if v, ok = x[key]; !ok {
				t.Fatalf("%s: no %q", path, key)
			}
		case []any:
			var i int
			if _, err := fmt.Sscan(key, &i); err != nil || i >= len(x) {
				t.Fatalf("%s: no item %q", path, key)
			}
			v = x[i]
		default:
			t.Fatalf("%s: %q under a %T", path, key, v)
		}
	}
	return v
}

func readDocs(t *testing.T, path string) []node {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []node
	for {
		var d node
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
	return docs
}

func byKind(t *testing.T, docs []node, kind, name string) node {
	t.Helper()
	for _, d := range docs {
		if d["kind"] == kind && get(t, d, "metadata.name") == name {
			return d
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

var shardArg = regexp.MustCompile(`^\$\(JOB_COMPLETION_INDEX\)/(\d+)$`)

// TestKubernetesExample: the Indexed Job runs one shard per index from
// JOB_COMPLETION_INDEX, as many shards as completions, retried per index, into a
// volume, and the merge Job merges that volume's shard folders.
func TestKubernetesExample(t *testing.T) {
	docs := readDocs(t, "examples/k8s/fleet-job.yaml")
	pvc := byKind(t, docs, "PersistentVolumeClaim", "stetconform-results")
	if !slices.Contains(get(t, pvc, "spec.accessModes").([]any), any("ReadWriteMany")) {
		t.Error("the results volume is not ReadWriteMany: the shards' pods write at once")
	}
	job := byKind(t, docs, "Job", "stetconform-fleet")
	if get(t, job, "apiVersion") != "batch/v1" || get(t, job, "spec.completionMode") != "Indexed" {
		t.Error("not an Indexed batch/v1 Job")
	}
	if n, ok := get(t, job, "spec.backoffLimitPerIndex").(int); !ok || n < 1 {
		t.Error("no backoffLimitPerIndex")
	}
	if get(t, job, "spec.template.spec.restartPolicy") != "Never" {
		t.Error("podFailurePolicy and backoffLimitPerIndex need restartPolicy: Never")
	}
	completions := get(t, job, "spec.completions").(int)
	c := get(t, job, "spec.template.spec.containers.0").(node)
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, fmt.Sprint(a))
	}
	i := slices.Index(args, "--shard")
	if args[0] != "fleet" || i < 0 || i+1 >= len(args) {
		t.Fatalf("args %q: not a fleet with --shard", args)
	}
	m := shardArg.FindStringSubmatch(args[i+1])
	if m == nil || m[1] != fmt.Sprint(completions) {
		t.Errorf("--shard %s: want $(JOB_COMPLETION_INDEX)/%d, n being completions", args[i+1], completions)
	}
	if _, err := ParseShard(strings.Replace(args[i+1], "$(JOB_COMPLETION_INDEX)", fmt.Sprint(completions-1), 1)); err != nil {
		t.Errorf("the last index's shard: %v", err)
	}
	out := args[slices.Index(args, "--out")+1]
	if !strings.HasPrefix(out, "/results/") || !strings.Contains(out, "$(JOB_COMPLETION_INDEX)") {
		t.Errorf("--out %s: not a folder per index on the results volume", out)
	}
	declared := false
	for _, e := range c["env"].([]any) {
		declared = declared || e.(node)["name"] == "JOB_COMPLETION_INDEX"
	}
	if !declared {
		t.Error("JOB_COMPLETION_INDEX is not declared in env: $(...) would not expand")
	}
	for _, r := range get(t, job, "spec.podFailurePolicy.rules").([]any) {
		if codes, ok := r.(node)["onExitCodes"].(node); ok && slices.Contains(codes["values"].([]any), any(3)) && r.(node)["action"] == "FailIndex" {
			t.Error("exit 3 (COULD NOT FINISH) is not retried")
		}
	}
	mounted := map[string]string{}
	for _, v := range c["volumeMounts"].([]any) {
		mounted[v.(node)["mountPath"].(string)] = v.(node)["name"].(string)
	}
	volumes := map[string]node{}
	for _, v := range get(t, job, "spec.template.spec.volumes").([]any) {
		volumes[v.(node)["name"].(string)] = v.(node)
	}
	if get(t, volumes[mounted["/results"]], "persistentVolumeClaim.claimName") != "stetconform-results" {
		t.Error("/results is not the results PVC")
	}

	merge := byKind(t, readDocs(t, "examples/k8s/merge-job.yaml"), "Job", "stetconform-fleet-merge")
	mc := get(t, merge, "spec.template.spec.containers.0").(node)
	script := fmt.Sprint(mc["args"])
	if !strings.Contains(script, "stetconform report merge --out /results/fleet /results/shard-*") {
		t.Errorf("the merge Job runs %s", script)
	}
	if get(t, merge, "spec.template.spec.volumes.0.persistentVolumeClaim.claimName") != "stetconform-results" {
		t.Error("the merge Job does not mount the results volume")
	}
}

// TestGitHubActionsExample: a matrix of at most 256 shards, n taken from the matrix,
// artifacts uploaded whatever the verdict, and a merge job after them all.
func TestGitHubActionsExample(t *testing.T) {
	wf := readDocs(t, "examples/ci/github-actions-fleet.yml")[0]
	shard := get(t, wf, "jobs.shard").(node)
	list := get(t, shard, "strategy.matrix.shard").([]any)
	if len(list) == 0 || len(list) > 256 {
		t.Errorf("%d shards: GitHub runs 1 to 256 jobs of a matrix", len(list))
	}
	for i, v := range list {
		if v != i {
			t.Errorf("matrix.shard[%d] = %v: the shards are 0 to n-1", i, v)
		}
	}
	if get(t, shard, "strategy.fail-fast") != false {
		t.Error("fail-fast would cancel the other shards on a verdict")
	}
	var run, upload string
	for _, s := range shard["steps"].([]any) {
		step := s.(node)
		if r, ok := step["run"].(string); ok && strings.Contains(r, "stetconform fleet") {
			run = r
		}
		if step["uses"] == "actions/upload-artifact@v4" {
			upload = fmt.Sprint(step["with"].(node)["name"])
			if path := fmt.Sprint(step["with"].(node)["path"]); strings.Contains(path, "state") {
				t.Errorf("artifact path %s: the state files hold live tokens, never an artifact", path)
			}
			if step["if"] != "always()" {
				t.Error("the shard's artifact is not uploaded when it exits non-zero")
			}
		}
	}
	if !strings.Contains(run, `--shard "${{ matrix.shard }}/${{ strategy.job-total }}"`) || !strings.Contains(run, `--out "shard-${{ matrix.shard }}"`) {
		t.Errorf("the shard job runs %q", run)
	}
	if upload != "fleet-shard-${{ matrix.shard }}" {
		t.Errorf("artifact %q", upload)
	}
	merge := get(t, wf, "jobs.merge").(node)
	if merge["needs"] != "shard" || !strings.Contains(fmt.Sprint(merge["if"]), "!cancelled()") {
		t.Errorf("the merge job: needs %v, if %v", merge["needs"], merge["if"])
	}
	var downloaded, merged bool
	for _, s := range merge["steps"].([]any) {
		step := s.(node)
		if step["uses"] == "actions/download-artifact@v4" && get(t, step, "with.pattern") == "fleet-shard-*" {
			downloaded = true
		}
		if r, ok := step["run"].(string); ok && strings.Contains(r, "stetconform report merge --out fleet shards/fleet-shard-*") {
			merged = true
		}
	}
	if !downloaded || !merged {
		t.Errorf("the merge job downloads the shards: %v, merges them: %v", downloaded, merged)
	}
}
