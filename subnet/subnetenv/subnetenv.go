// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package subnetenv reads and writes subnet.env, the file through which the
// node daemon tells the CNI plugin its subnet, in flannel's exact format:
// KEY=value lines, split on the first "=", no comments or quotes. It uses the
// standard library only, so that the CNI plugin that links it stays lean.
package subnetenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultPath is weftd's default subnet file (flanneld's is /run/flannel/subnet.env).
const DefaultPath = "/run/weft/subnet.env"

// Env is the content of subnet.env. Subnet and IPv6Subnet hold the node's
// gateway address (the first usable one) with the subnet length, as flannel
// writes them, e.g. 10.244.3.1/24. Zero values are absent lines.
type Env struct {
	// Networks is FLANNEL_NETWORK; flannel's reader accepts a comma list.
	Networks    []netip.Prefix
	Subnet      netip.Prefix
	IPv6Network netip.Prefix
	IPv6Subnet  netip.Prefix
	MTU         int
	IPMasq      bool
}

// ErrNotExist is returned (wrapped) by Read when the file is missing.
var ErrNotExist = fs.ErrNotExist

// GatewayPrefix turns a node subnet (10.244.3.0/24) into the FLANNEL_SUBNET
// form (10.244.3.1/24).
func GatewayPrefix(sn netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(sn.Masked().Addr().Next(), sn.Bits())
}

// Marshal renders exactly the lines flannel writes, in flannel's order.
func (e Env) Marshal() []byte {
	var b bytes.Buffer
	nets := make([]string, 0, len(e.Networks))
	for _, n := range e.Networks {
		nets = append(nets, n.String())
	}
	if len(nets) > 0 {
		fmt.Fprintf(&b, "FLANNEL_NETWORK=%s\n", strings.Join(nets, ","))
	}
	if e.Subnet.IsValid() {
		fmt.Fprintf(&b, "FLANNEL_SUBNET=%s\n", e.Subnet)
	}
	if e.IPv6Network.IsValid() {
		fmt.Fprintf(&b, "FLANNEL_IPV6_NETWORK=%s\n", e.IPv6Network)
	}
	if e.IPv6Subnet.IsValid() {
		fmt.Fprintf(&b, "FLANNEL_IPV6_SUBNET=%s\n", e.IPv6Subnet)
	}
	fmt.Fprintf(&b, "FLANNEL_MTU=%d\n", e.MTU)
	fmt.Fprintf(&b, "FLANNEL_IPMASQ=%t\n", e.IPMasq)
	return b.Bytes()
}

// Write stores e at path atomically (temp file in the same directory, fsync,
// rename), mode 0644, creating the directory if needed, so a reader never
// sees a half-written file.
func Write(path string, e Env) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write subnet file %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write subnet file %s: %w", path, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(e.Marshal()); err != nil {
		return fmt.Errorf("write subnet file %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write subnet file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write subnet file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write subnet file %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write subnet file %s: %w", path, err)
	}
	committed = true
	return nil
}

// Read parses the file at path. A missing file gives an error that wraps
// ErrNotExist; a malformed one names the file, the line number and the key.
func Read(path string) (Env, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Env{}, fmt.Errorf("read subnet file %s: %w", path, err)
	}
	e, err := Parse(b)
	if err != nil {
		return Env{}, fmt.Errorf("subnet file %s: %w", path, err)
	}
	return e, nil
}

// LineError reports a bad line of subnet.env.
type LineError struct {
	Line int
	Text string
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d %q: %v", e.Line, e.Text, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// Parse reads subnet.env content with flannel's rules: each non-empty line
// is KEY=value split on the first "="; unknown keys are ignored (flanneld
// may add some); FLANNEL_SUBNET and FLANNEL_MTU are required.
func Parse(b []byte) (Env, error) {
	var e Env
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Env{}, &LineError{n, line, errors.New("want KEY=value")}
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if err := e.set(k, v); err != nil {
			return Env{}, &LineError{n, line, err}
		}
		seen[k] = true
	}
	if err := sc.Err(); err != nil {
		return Env{}, err
	}
	// An IPv6-only file from flanneld has no FLANNEL_SUBNET.
	if !seen["FLANNEL_SUBNET"] && !seen["FLANNEL_IPV6_SUBNET"] {
		return Env{}, errors.New("FLANNEL_SUBNET missing")
	}
	if !seen["FLANNEL_MTU"] {
		return Env{}, errors.New("FLANNEL_MTU missing")
	}
	return e, nil
}

func (e *Env) set(k, v string) error {
	var err error
	switch k {
	case "FLANNEL_NETWORK":
		e.Networks = e.Networks[:0]
		for _, s := range strings.Split(v, ",") {
			p, perr := parsePrefix(strings.TrimSpace(s), k)
			if perr != nil {
				return perr
			}
			e.Networks = append(e.Networks, p.Masked())
		}
	case "FLANNEL_SUBNET":
		e.Subnet, err = parsePrefix(v, k)
	case "FLANNEL_IPV6_NETWORK":
		var p netip.Prefix
		p, err = parsePrefix(v, k)
		e.IPv6Network = p.Masked()
	case "FLANNEL_IPV6_SUBNET":
		e.IPv6Subnet, err = parsePrefix(v, k)
	case "FLANNEL_MTU":
		e.MTU, err = strconv.Atoi(v)
		if err != nil || e.MTU <= 0 {
			return fmt.Errorf("FLANNEL_MTU %q: not a positive integer", v)
		}
	case "FLANNEL_IPMASQ":
		e.IPMasq, err = strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("FLANNEL_IPMASQ %q: want true or false", v)
		}
	}
	return err
}

func parsePrefix(v, k string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s %q: not a CIDR", k, v)
	}
	return p, nil
}
