// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import "sort"

func sortStrings(s []string) { sort.Strings(s) }
