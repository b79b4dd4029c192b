// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import "context"

// Reclaim claims l's subnet again at once, as KeepAlive does when the etcd
// lease is lost. The daemon calls it when its watch shows its own key deleted
// while the etcd lease lives on (an operator's `etcdctl del`), which
// keep-alives alone would never notice. Like KeepAlive's re-claim it adopts a
// key carrying our PublicIP and returns an error wrapping ErrLeaseTaken when
// another node holds the subnet.
func (m *Manager) Reclaim(ctx context.Context, l Lease) (Lease, error) { return m.reclaim(ctx, l) }
