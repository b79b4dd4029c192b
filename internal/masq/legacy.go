// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Legacy iptables (x_tables) has no netlink interface: its tables are read
// and replaced whole through setsockopt blobs that only the iptables-legacy
// binary knows how to edit safely. So this file, and only it, runs a binary,
// and only when the legacy filter table already exists in the namespace (a
// host where Docker or another tool uses iptables-legacy): listing it with
// the binary would otherwise create it.

func legacyBinary(v4 bool) string {
	if v4 {
		return "iptables-legacy"
	}
	return "ip6tables-legacy"
}

// legacyNamesFile lists the legacy tables of the reading thread's namespace;
// it is missing when the x_tables module is not loaded.
func legacyNamesFile(v4 bool) string {
	if v4 {
		return "/proc/thread-self/net/ip_tables_names"
	}
	return "/proc/thread-self/net/ip6_tables_names"
}

// legacyRule is one of weft's FORWARD rules in legacy iptables.
type legacyRule struct {
	flag   string // "-s" or "-d"
	prefix netip.Prefix
}

func (r legacyRule) args() []string {
	return []string{r.flag, r.prefix.String(), "-m", "comment", "--comment", ForwardComment, "-j", "ACCEPT"}
}

// legacyWant returns weft's desired legacy rules for one pod network (none
// for the zero prefix), in the order they should appear.
func legacyWant(pod netip.Prefix) []legacyRule {
	if !pod.IsValid() {
		return nil
	}
	return []legacyRule{{"-s", pod}, {"-d", pod}}
}

// ensureLegacyForward makes the legacy FORWARD chain of one family hold
// weft's rules for pod (none for the zero prefix), like ensureNFTForward.
func (m *Manager) ensureLegacyForward(v4 bool, pod netip.Prefix) (bool, error) {
	var changed bool
	err := inNetNS(m.netnsFd, func() error {
		present, err := legacyFilterPresent(v4)
		if err != nil || !present {
			return err
		}
		bin, err := exec.LookPath(legacyBinary(v4))
		if err != nil {
			m.warnLegacy(fmt.Sprintf("legacy %s filter table present but %s is not installed: forwarding may be dropped there", familyName(v4), legacyBinary(v4)))
			return nil
		}
		m.warnLegacy("")
		changed, err = syncLegacy(bin, legacyWant(pod))
		return err
	})
	return changed, err
}

// warnLegacy logs msg once, until it changes.
func (m *Manager) warnLegacy(msg string) {
	if msg != "" && msg != m.legacyWarn {
		m.log.Warn(msg)
	}
	m.legacyWarn = msg
}

func legacyFilterPresent(v4 bool) (bool, error) {
	b, err := os.ReadFile(legacyNamesFile(v4))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read legacy iptables tables: %w", err)
	}
	return slices.Contains(strings.Fields(string(b)), "filter"), nil
}

// syncLegacy deletes weft's rules that are not wanted and inserts the
// missing ones at the top of FORWARD.
func syncLegacy(bin string, want []legacyRule) (bool, error) {
	out, err := runIptables(bin, "-S", "FORWARD")
	if err != nil {
		return false, err
	}
	extra, present := parseLegacyRules(out, want)
	var changed bool
	for _, args := range extra {
		if _, err := runIptables(bin, append([]string{"-D", "FORWARD"}, args...)...); err != nil {
			return changed, err
		}
		changed = true
	}
	for i := len(want) - 1; i >= 0; i-- {
		if present[want[i]] {
			continue
		}
		if _, err := runIptables(bin, append([]string{"-I", "FORWARD", "1"}, want[i].args()...)...); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// parseLegacyRules reads `iptables -S FORWARD` output. It returns the
// arguments of each rule carrying weft's comment that is not wanted (or a
// duplicate), and which wanted rules are present.
func parseLegacyRules(out string, want []legacyRule) (extra [][]string, present map[legacyRule]bool) {
	present = map[legacyRule]bool{}
	quoted := `"` + ForwardComment + `"`
	placeholder := "\x00weft\x00"
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "-A FORWARD ") || !strings.Contains(line, "--comment "+quoted) {
			continue
		}
		args := strings.Fields(strings.ReplaceAll(strings.TrimPrefix(line, "-A FORWARD "), quoted, placeholder))
		for i, a := range args {
			if a == placeholder {
				args[i] = ForwardComment
			}
		}
		if r, ok := matchLegacy(args, want); ok && !present[r] {
			present[r] = true
			continue
		}
		extra = append(extra, args)
	}
	return extra, present
}

// matchLegacy returns the wanted rule whose arguments are exactly args.
func matchLegacy(args []string, want []legacyRule) (legacyRule, bool) {
	for _, w := range want {
		if slices.Equal(args, w.args()) {
			return w, true
		}
	}
	return legacyRule{}, false
}

// runIptables runs an iptables binary; -w waits for the xtables lock that
// other iptables users hold briefly.
func runIptables(bin string, args ...string) (string, error) {
	args = append([]string{"-w", "5"}, args...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
