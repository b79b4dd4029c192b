// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// CRIPod is a pod sandbox made through containerd's CRI with crictl, as
// kubelet makes one. Pod gives its namespace and address to the traffic
// helpers; its network namespace is the one containerd made
// (/var/run/netns/cni-*).
type CRIPod struct {
	*Pod
	ID string
	cd *Containerd
}

// RunPod creates a pod sandbox (crictl runp) and reads its address and
// network namespace back (crictl inspectp).
func (cd *Containerd) RunPod(ctx context.Context, name string) (*CRIPod, error) {
	cfg := map[string]any{
		"metadata": map[string]any{
			"name": name, "namespace": "default", "uid": cd.Node.c.id + "-" + cd.Node.Name + "-" + name,
		},
		"log_directory": filepath.Join(cd.Dir, "logs"),
		"linux":         map[string]any{"cgroup_parent": cd.cgroupParent},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", name, err)
	}
	path := filepath.Join(cd.Dir, "pod-"+name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, fmt.Errorf("pod %s: %w", name, err)
	}
	out, err := cd.Crictl(ctx, "runp", path)
	if err != nil {
		return nil, fmt.Errorf("node %s: pod %s: %w", cd.Node.Name, name, err)
	}
	p := &CRIPod{ID: strings.TrimSpace(out), cd: cd, Pod: &Pod{Name: name, Node: cd.Node}}
	if err := p.inspect(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// inspectp is the part of `crictl inspectp -o json` the tier reads.
type inspectp struct {
	Status struct {
		State   string `json:"state"`
		Network struct {
			IP string `json:"ip"`
		} `json:"network"`
	} `json:"status"`
	Info struct {
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct {
					Type string `json:"type"`
					Path string `json:"path"`
				} `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	} `json:"info"`
}

func (p *CRIPod) inspect(ctx context.Context) error {
	out, err := p.cd.Crictl(ctx, "inspectp", "-o", "json", p.ID)
	if err != nil {
		return fmt.Errorf("node %s: pod %s: %w", p.Node.Name, p.Name, err)
	}
	var in inspectp
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		return fmt.Errorf("node %s: pod %s: inspectp: %w", p.Node.Name, p.Name, err)
	}
	for _, ns := range in.Info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" && ns.Path != "" {
			p.NS = filepath.Base(ns.Path)
			p.cd.mu.Lock()
			p.cd.netnss[p.NS] = true
			p.cd.mu.Unlock()
		}
	}
	if p.NS == "" {
		return fmt.Errorf("node %s: pod %s: inspectp names no network namespace", p.Node.Name, p.Name)
	}
	ip, err := netip.ParseAddr(in.Status.Network.IP)
	if err != nil {
		return fmt.Errorf("node %s: pod %s: inspectp pod IP %q: %w", p.Node.Name, p.Name, in.Status.Network.IP, err)
	}
	p.IP = ip
	return nil
}

// Stop runs crictl stopp: CNI DEL, then the sandbox stops.
func (p *CRIPod) Stop(ctx context.Context) error {
	if _, err := p.cd.Crictl(ctx, "stopp", p.ID); err != nil {
		return fmt.Errorf("node %s: pod %s: %w", p.Node.Name, p.Name, err)
	}
	return nil
}

// Remove runs crictl rmp (stopping the pod first if needed).
func (p *CRIPod) Remove(ctx context.Context) error {
	if _, err := p.cd.Crictl(ctx, "rmp", "--force", p.ID); err != nil {
		return fmt.Errorf("node %s: pod %s: %w", p.Node.Name, p.Name, err)
	}
	return nil
}

// RuntimeCondition is one condition of `crictl info`.
type RuntimeCondition struct {
	Type    string `json:"type"`
	Status  bool   `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// NetworkReady returns containerd's NetworkReady condition, which
// containerd 2.x derives from CNI STATUS of the conflist.
func (cd *Containerd) NetworkReady(ctx context.Context) (RuntimeCondition, error) {
	out, err := cd.Crictl(ctx, "info", "-o", "json")
	if err != nil {
		return RuntimeCondition{}, err
	}
	var info struct {
		Status struct {
			Conditions []RuntimeCondition `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		return RuntimeCondition{}, fmt.Errorf("crictl info: %w", err)
	}
	for _, c := range info.Status.Conditions {
		if c.Type == "NetworkReady" {
			return c, nil
		}
	}
	return RuntimeCondition{}, fmt.Errorf("crictl info: no NetworkReady condition in %s", out)
}

// PodIDs lists the sandboxes containerd holds.
func (cd *Containerd) PodIDs(ctx context.Context) ([]string, error) {
	out, err := cd.Crictl(ctx, "pods", "-q")
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}
