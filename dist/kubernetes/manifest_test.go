// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package kubernetes holds weft's Kubernetes manifest; its test decodes
// every object strictly against the API types and checks the references
// between them, which kubectl only finds out on a cluster.
package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/weft-net/weft/internal/testbin"
	"github.com/weft-net/weft/subnet"
)

// manifest is weft.yaml decoded.
type manifest struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	ds         *appsv1.DaemonSet
	job        *batchv1.Job
	svc        *corev1.Service
	namespace  string
}

func load(t *testing.T) *manifest {
	t.Helper()
	b, err := os.ReadFile("weft.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for i, doc := range regexp.MustCompile(`(?m)^---$`).Split(string(b), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var obj any
		switch tm.APIVersion + "/" + tm.Kind {
		case "v1/Namespace":
			obj = &corev1.Namespace{}
		case "v1/ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "v1/ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1/Secret":
			obj = &corev1.Secret{}
		case "v1/Service":
			obj = &corev1.Service{}
		case "apps/v1/DaemonSet":
			obj = &appsv1.DaemonSet{}
		case "batch/v1/Job":
			obj = &batchv1.Job{}
		default:
			t.Fatalf("document %d: %s %s: not a kind this test knows", i, tm.APIVersion, tm.Kind)
		}
		// Strict: an unknown or duplicate field (a typo kubectl would
		// reject or silently drop) fails.
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("document %d (%s): %v", i, tm.Kind, err)
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			m.namespace = o.Name
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = o
		case *corev1.Secret:
			m.secrets[o.Name] = o
		case *corev1.Service:
			m.svc = o
		case *appsv1.DaemonSet:
			m.ds = o
		case *batchv1.Job:
			m.job = o
		}
		if om, ok := obj.(metav1.Object); ok && tm.Kind != "Namespace" && om.GetNamespace() != "weft-system" {
			t.Errorf("%s %s: namespace %q, want weft-system", tm.Kind, om.GetName(), om.GetNamespace())
		}
	}
	if m.namespace != "weft-system" || m.ds == nil || m.job == nil || m.svc == nil {
		t.Fatalf("weft.yaml lacks the namespace, the DaemonSet, the Job or the Service")
	}
	return m
}

func stripComments(doc string) string {
	var out []string
	for l := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestManifestReferences: every volume is mounted and every mount has a
// volume; ConfigMap and Secret references name objects and keys that
// exist; files the commands read are where the mounts put them.
func TestManifestReferences(t *testing.T) {
	m := load(t)
	for _, pod := range []struct {
		name string
		spec corev1.PodSpec
	}{{"DaemonSet weftd", m.ds.Spec.Template.Spec}, {"Job weft-net-conf", m.job.Spec.Template.Spec}} {
		volumes := map[string]corev1.Volume{}
		for _, v := range pod.spec.Volumes {
			volumes[v.Name] = v
			switch {
			case v.ConfigMap != nil:
				cm := m.configMaps[v.ConfigMap.Name]
				if cm == nil {
					t.Errorf("%s: volume %s: no ConfigMap %s", pod.name, v.Name, v.ConfigMap.Name)
					continue
				}
				for _, it := range v.ConfigMap.Items {
					if _, ok := cm.Data[it.Key]; !ok {
						t.Errorf("%s: volume %s: ConfigMap %s has no key %s", pod.name, v.Name, cm.Name, it.Key)
					}
				}
			case v.Secret != nil:
				if m.secrets[v.Secret.SecretName] == nil {
					t.Errorf("%s: volume %s: no Secret %s", pod.name, v.Name, v.Secret.SecretName)
				}
			case v.HostPath == nil:
				t.Errorf("%s: volume %s: neither ConfigMap, Secret nor hostPath", pod.name, v.Name)
			}
		}
		mounted := map[string]bool{}
		for _, c := range slices.Concat(pod.spec.InitContainers, pod.spec.Containers) {
			for _, vm := range c.VolumeMounts {
				mounted[vm.Name] = true
				if _, ok := volumes[vm.Name]; !ok {
					t.Errorf("%s: container %s mounts %s, which is no volume", pod.name, c.Name, vm.Name)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil && m.configMaps[ef.ConfigMapRef.Name] == nil {
					t.Errorf("%s: container %s: envFrom ConfigMap %s does not exist", pod.name, c.Name, ef.ConfigMapRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					if cm := m.configMaps[r.Name]; cm == nil {
						t.Errorf("%s: %s: %s: no ConfigMap %s", pod.name, c.Name, e.Name, r.Name)
					} else if _, ok := cm.Data[r.Key]; !ok {
						t.Errorf("%s: %s: %s: ConfigMap %s has no key %s", pod.name, c.Name, e.Name, r.Name, r.Key)
					}
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					if s := m.secrets[r.Name]; s == nil {
						t.Errorf("%s: %s: %s: no Secret %s", pod.name, c.Name, e.Name, r.Name)
					} else if _, ok := s.StringData[r.Key]; !ok {
						t.Errorf("%s: %s: %s: Secret %s has no key %s", pod.name, c.Name, e.Name, r.Name, r.Key)
					}
				}
			}
			// Each file a command names under a ConfigMap mount must be a key
			// that mount projects.
			for _, arg := range slices.Concat(c.Command, c.Args) {
				_, path, ok := strings.Cut(arg, "=")
				if !ok {
					path = arg
				}
				if !strings.HasPrefix(path, "/etc/weft/conf/") {
					continue
				}
				if !projects(c, volumes, m.configMaps, path) {
					t.Errorf("%s: container %s reads %s, which no ConfigMap mount provides", pod.name, c.Name, path)
				}
			}
		}
		for name := range volumes {
			if !mounted[name] {
				t.Errorf("%s: volume %s is mounted by no container", pod.name, name)
			}
		}
	}
	// The ConfigMap's contents are what weft reads.
	nc := m.configMaps["weft-net-conf"]
	if _, err := subnet.ParseConfig([]byte(nc.Data["net-conf.json"])); err != nil {
		t.Errorf("net-conf.json: %v", err)
	}
	if _, err := libcni.ConfListFromBytes([]byte(nc.Data["10-weft.conflist"])); err != nil {
		t.Errorf("10-weft.conflist: %v", err)
	}
	for k := range m.configMaps["weftd-env"].Data {
		if !strings.HasPrefix(k, "WEFTD_") {
			t.Errorf("ConfigMap weftd-env: key %s is no WEFTD_ variable", k)
		}
	}
}

// projects says whether path, in container c, is a key of a ConfigMap
// volume mounted over its directory.
func projects(c corev1.Container, volumes map[string]corev1.Volume, cms map[string]*corev1.ConfigMap, path string) bool {
	for _, vm := range c.VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		v := volumes[vm.Name]
		if v.ConfigMap == nil || cms[v.ConfigMap.Name] == nil {
			continue
		}
		if len(v.ConfigMap.Items) == 0 {
			_, ok := cms[v.ConfigMap.Name].Data[rel]
			return ok
		}
		for _, it := range v.ConfigMap.Items {
			if it.Path == rel {
				return true
			}
		}
	}
	return false
}

// TestManifestPortsAndImage: probes, container port, Service and
// annotations use the port weftd is told to serve on; every image is the
// one `make image` names; weftd may write /proc/sys.
func TestManifestPortsAndImage(t *testing.T) {
	m := load(t)
	var weftd *corev1.Container
	for i := range m.ds.Spec.Template.Spec.Containers {
		if c := &m.ds.Spec.Template.Spec.Containers[i]; c.Name == "weftd" {
			weftd = c
		}
	}
	if weftd == nil {
		t.Fatal("DaemonSet: no container weftd")
	}
	flags := map[string]string{}
	for _, a := range weftd.Args {
		k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		flags[k] = v
	}
	port, err := strconv.Atoi(flags["healthz-port"])
	if err != nil {
		t.Fatalf("weftd --healthz-port %q: %v", flags["healthz-port"], err)
	}
	if want := fmt.Sprintf("0.0.0.0:%d", port); flags["metrics-addr"] != want {
		t.Errorf("--metrics-addr %q, want %s to share the health listener", flags["metrics-addr"], want)
	}
	for name, p := range map[string]*corev1.Probe{"startup": weftd.StartupProbe, "liveness": weftd.LivenessProbe, "readiness": weftd.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.IntValue() != port {
			t.Errorf("%s probe: want an HTTP probe on port %d", name, port)
		}
	}
	if len(weftd.Ports) != 1 || int(weftd.Ports[0].ContainerPort) != port {
		t.Errorf("weftd ports %+v, want %d", weftd.Ports, port)
	}
	if sp := m.svc.Spec.Ports; len(sp) != 1 || sp[0].TargetPort.String() != weftd.Ports[0].Name || int(sp[0].Port) != port {
		t.Errorf("Service ports %+v: want port %d, targetPort %s", sp, port, weftd.Ports[0].Name)
	}
	for what, ann := range map[string]map[string]string{"pod": m.ds.Spec.Template.Annotations, "Service": m.svc.Annotations} {
		if ann["prometheus.io/port"] != strconv.Itoa(port) {
			t.Errorf("%s annotation prometheus.io/port %q, want %d", what, ann["prometheus.io/port"], port)
		}
	}
	if sc := weftd.SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Error("weftd is not privileged: it could not turn IP forwarding back on (/proc/sys is read-only otherwise)")
	}

	repo := makeVar(t, "IMAGE_REPO")
	tagRE := regexp.MustCompile(`^v\d+\.\d+\.\d+$`) // a release tag, what `make image` names at a tag
	var containers []corev1.Container
	for _, s := range []corev1.PodSpec{m.ds.Spec.Template.Spec, m.job.Spec.Template.Spec} {
		containers = slices.Concat(containers, s.InitContainers, s.Containers)
	}
	images := map[string]bool{}
	for _, c := range containers {
		images[c.Image] = true
		r, tag, ok := strings.Cut(c.Image, ":")
		if !ok || r != repo || !tagRE.MatchString(tag) {
			t.Errorf("container %s: image %q, want %s:vX.Y.Z (the Makefile's IMAGE_REPO)", c.Name, c.Image, repo)
		}
		// The image has no shell: a command must be one of its binaries.
		if len(c.Command) == 0 || !slices.Contains([]string{"/usr/local/bin/weftd", "/usr/local/bin/weftctl"}, c.Command[0]) {
			t.Errorf("container %s: command %v, want weftd or weftctl from /usr/local/bin", c.Name, c.Command)
		}
		if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged &&
			sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: privileged with allowPrivilegeEscalation false, which the API rejects", c.Name)
		}
	}
	if len(images) != 1 {
		t.Errorf("images %v: want one image for every container", images)
	}
}

// makeVar reads a `NAME ?= value` or `NAME := value` line of the Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*[?:]?=\s*(\S+)\s*$`)
	sm := re.FindSubmatch(b)
	if sm == nil {
		t.Fatalf("Makefile: no %s", name)
	}
	return string(bytes.TrimSpace(sm[1]))
}
