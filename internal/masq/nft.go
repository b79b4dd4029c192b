// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"bytes"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// iptables-nft keeps the iptables filter table as nftables table "filter"
// with base chain "FORWARD", in the ip and ip6 families.
const (
	iptablesTable   = "filter"
	iptablesForward = "FORWARD"
)

func tableFamily(v4 bool) nftables.TableFamily {
	if v4 {
		return nftables.TableFamilyIPv4
	}
	return nftables.TableFamilyIPv6
}

// ensureTable makes weft's table hold exactly want (no table for nil) and
// reports whether it changed anything. A differing table is replaced in one
// batch: add (so that the delete cannot fail on a missing table), delete,
// re-create. The kernel applies the batch atomically, so no packet sees a
// half-written table.
func (m *Manager) ensureTable(want []chainSpec) (bool, error) {
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	live, err := m.findTable(t)
	if err != nil {
		return false, err
	}
	if want == nil && live == nil {
		return false, nil
	}
	if live != nil && want != nil {
		same, err := m.tableMatches(live, want)
		if err != nil || same {
			return false, err
		}
	}
	b := m.batch()
	b.AddTable(t)
	b.DelTable(t)
	if want != nil {
		b.AddTable(t)
		for _, cs := range want {
			c := b.AddChain(&nftables.Chain{
				Name: cs.name, Table: t, Type: cs.typ,
				Hooknum: &cs.hook, Priority: &cs.prio, Policy: policyAccept(),
			})
			for _, r := range cs.rules {
				b.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: r.exprs, UserData: comment(r.comment)})
			}
		}
	}
	if err := b.Flush(); err != nil {
		return false, fmt.Errorf("write table inet %s: %w", TableName, err)
	}
	return true, nil
}

// batch returns a connection to queue one batch on, so that a batch
// abandoned half-built never leaks into the next Flush.
func (m *Manager) batch() *nftables.Conn {
	b, _ := nftables.New(nftables.WithNetNSFd(m.netnsFd)) // without AsLasting, New cannot fail
	return b
}

func policyAccept() *nftables.ChainPolicy {
	p := nftables.ChainPolicyAccept
	return &p
}

// findTable returns the live table named like t in t's family, or nil.
func (m *Manager) findTable(t *nftables.Table) (*nftables.Table, error) {
	tables, err := m.nft.ListTablesOfFamily(t.Family)
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %w", err)
	}
	for _, lt := range tables {
		if lt.Name == t.Name {
			return lt, nil
		}
	}
	return nil, nil
}

// tableChains returns the live chains of table t.
func (m *Manager) tableChains(t *nftables.Table) ([]*nftables.Chain, error) {
	chains, err := m.nft.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return nil, fmt.Errorf("list nftables chains: %w", err)
	}
	var out []*nftables.Chain
	for _, c := range chains {
		if c.Table != nil && c.Table.Name == t.Name {
			out = append(out, c)
		}
	}
	return out, nil
}

// tableMatches reports whether the live table holds exactly the chains and
// rules of want, no set, and no flag (a dormant table filters nothing).
// Table.Use would count everything at once, but nftables v0.3.0 decodes it
// in the wrong byte order.
func (m *Manager) tableMatches(t *nftables.Table, want []chainSpec) (bool, error) {
	if t.Flags != 0 {
		return false, nil
	}
	sets, err := m.nft.GetSets(t)
	if err != nil {
		return false, fmt.Errorf("list sets of inet %s: %w", TableName, err)
	}
	if len(sets) > 0 {
		return false, nil
	}
	chains, err := m.tableChains(t)
	if err != nil || len(chains) != len(want) {
		return false, err
	}
	for _, cs := range want {
		c := findChain(chains, cs.name)
		if c == nil || !sameBaseChain(c, cs) {
			return false, nil
		}
		rules, err := m.nft.GetRules(t, c)
		if err != nil {
			return false, fmt.Errorf("list rules of inet %s %s: %w", TableName, cs.name, err)
		}
		if len(rules) != len(cs.rules) {
			return false, nil
		}
		for i, r := range rules {
			if !sameRule(t.Family, cs.rules[i], r) {
				return false, nil
			}
		}
	}
	return true, nil
}

// lookupChain returns chain name of table t, or nil if it does not exist.
// It asks for that chain alone: listing the family's chains would dump every
// kube-proxy chain of iptables-nft on each check.
func (m *Manager) lookupChain(t *nftables.Table, name string) (*nftables.Chain, error) {
	c, err := m.nft.ListChain(t, name)
	if err == nil {
		return c, nil
	}
	// ListChain's error does not tell a missing chain from a failure; the
	// full listing does, and this path is rare.
	chains, lerr := m.tableChains(t)
	if lerr != nil {
		return nil, lerr
	}
	if findChain(chains, name) != nil {
		return nil, fmt.Errorf("list chain %s of table %s: %w", name, t.Name, err)
	}
	return nil, nil
}

func findChain(chains []*nftables.Chain, name string) *nftables.Chain {
	for _, c := range chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func sameBaseChain(c *nftables.Chain, cs chainSpec) bool {
	return c.Type == cs.typ && c.Hooknum != nil && *c.Hooknum == cs.hook &&
		c.Priority != nil && *c.Priority == cs.prio && c.Device == "" &&
		(c.Policy == nil || *c.Policy == nftables.ChainPolicyAccept)
}

// sameRule compares a live rule with a desired one by comment and by the
// netlink encoding of each expression, which is exact and needs no
// per-expression code; counters are compared without their values.
func sameRule(fam nftables.TableFamily, want ruleSpec, got *nftables.Rule) bool {
	if ruleComment(got) != want.comment || len(got.Exprs) != len(want.exprs) {
		return false
	}
	for i := range want.exprs {
		a, errA := expr.Marshal(byte(fam), zeroCounter(want.exprs[i]))
		b, errB := expr.Marshal(byte(fam), zeroCounter(got.Exprs[i]))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			return false
		}
	}
	return true
}

func zeroCounter(e expr.Any) expr.Any {
	if _, ok := e.(*expr.Counter); ok {
		return &expr.Counter{}
	}
	return e
}

// ensureNFTForward makes the iptables-nft FORWARD chain of one family hold
// weft's rules want (none for nil) and no other rule with weft's comment.
// Missing rules go to the top of the chain, ahead of any DROP; a rule of
// weft's that is present anywhere in the chain is left where it is, so weft
// does not fight other tools that also insert at the top. Without the chain
// there is no iptables policy to override and nothing to do: weft does not
// create iptables' table.
func (m *Manager) ensureNFTForward(v4 bool, want []ruleSpec) (bool, error) {
	t := &nftables.Table{Name: iptablesTable, Family: tableFamily(v4)}
	where := fmt.Sprintf("%s %s %s", familyName(v4), iptablesTable, iptablesForward)
	live, err := m.findTable(t)
	if err != nil || live == nil {
		return false, err
	}
	c, err := m.lookupChain(t, iptablesForward)
	if err != nil || c == nil {
		return false, err
	}
	rules, err := m.nft.GetRules(t, c)
	if err != nil {
		return false, fmt.Errorf("list rules of %s: %w", where, err)
	}
	extra, missing := diffOwned(t.Family, want, rules)
	if len(extra) == 0 && len(missing) == 0 {
		return false, nil
	}
	b := m.batch()
	for _, r := range extra {
		if err := b.DelRule(&nftables.Rule{Table: t, Chain: c, Handle: r.Handle}); err != nil {
			return false, fmt.Errorf("delete rule %d of %s: %w", r.Handle, where, err)
		}
	}
	// Each insert goes to the top, so insert in reverse to keep want's order.
	for i := len(missing) - 1; i >= 0; i-- {
		b.InsertRule(&nftables.Rule{Table: t, Chain: c, Exprs: missing[i].exprs, UserData: comment(missing[i].comment)})
	}
	if err := b.Flush(); err != nil {
		return false, fmt.Errorf("update weft's rules in %s: %w", where, err)
	}
	return true, nil
}

// diffOwned compares weft's rules (by comment) among live with want. extra
// are weft's rules not wanted, duplicates included; missing are the wanted
// rules not found.
func diffOwned(fam nftables.TableFamily, want []ruleSpec, live []*nftables.Rule) (extra []*nftables.Rule, missing []ruleSpec) {
	found := make([]bool, len(want))
	for _, r := range live {
		if ruleComment(r) != ForwardComment {
			continue
		}
		i := matchSpec(fam, want, found, r)
		if i < 0 {
			extra = append(extra, r)
			continue
		}
		found[i] = true
	}
	for i, ok := range found {
		if !ok {
			missing = append(missing, want[i])
		}
	}
	return extra, missing
}

// matchSpec returns the index of the first spec not yet found that r
// matches, or -1.
func matchSpec(fam nftables.TableFamily, want []ruleSpec, found []bool, r *nftables.Rule) int {
	for i, w := range want {
		if !found[i] && sameRule(fam, w, r) {
			return i
		}
	}
	return -1
}
