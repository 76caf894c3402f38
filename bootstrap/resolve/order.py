"""Install order: dependencies before dependents, cycles broken the same way every time.

Contract: `install_order(strong, weak)` takes, for every chosen name, the names it Pre-Depends
on (`strong`) and Depends on (`weak`), and returns every name once. Outside dependency cycles the
order is a topological one (ties by name). Inside a cycle (libc6 ↔ libgcc-s1), Pre-Depends are
still honoured whenever the cycle allows, then Depends; what remains is broken at the smallest
name. Nothing here depends on dict or set iteration order.
"""
from __future__ import annotations

import heapq
from collections.abc import Mapping


def _components(edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (iterative Tarjan: Debian's graph is too deep to recurse)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = edges[node]
            if i < len(targets):
                work.append((node, i + 1))
                nxt = targets[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                comps.append(sorted(comp))
    return comps


def _order_cycle(members: list[str], strong: Mapping[str, set[str]],
                 weak: Mapping[str, set[str]]) -> list[str]:
    """Order one component: each step takes the smallest name whose in-cycle dependencies are
    all placed; failing that, whose Pre-Depends are; failing that, the smallest name left.
    Heaps with lazy deletion keep this O(E log n) even for a large component."""
    inside = set(members)
    needs = {n: ((strong[n] | weak[n]) & inside) - {n} for n in members}
    pre_needs = {n: (strong[n] & inside) - {n} for n in members}
    users: dict[str, list[str]] = {n: [] for n in members}
    for n in members:
        for t in needs[n]:
            users[t].append(n)
    unmet = {n: len(needs[n]) for n in members}
    unmet_pre = {n: len(pre_needs[n]) for n in members}
    ready = [n for n in members if unmet[n] == 0]
    pre_ready = [n for n in members if unmet_pre[n] == 0]
    rest = list(members)
    for heap in (ready, pre_ready, rest):
        heapq.heapify(heap)
    placed: list[str] = []
    done: set[str] = set()
    while len(placed) < len(members):
        for heap in (ready, pre_ready, rest):
            while heap and heap[0] in done:
                heapq.heappop(heap)
            if heap:
                pick = heapq.heappop(heap)
                break
        done.add(pick)
        placed.append(pick)
        for user in users[pick]:
            unmet[user] -= 1
            if unmet[user] == 0:
                heapq.heappush(ready, user)
            if pick in pre_needs[user]:
                unmet_pre[user] -= 1
                if unmet_pre[user] == 0:
                    heapq.heappush(pre_ready, user)
    return placed


def install_order(strong: Mapping[str, set[str]], weak: Mapping[str, set[str]]) -> list[str]:
    """Every name of `strong`/`weak` (same keys), dependencies first; see the module contract."""
    edges = {n: sorted((strong[n] | weak[n]) - {n}) for n in strong}
    comps = _components(edges)
    comp_of = {n: i for i, comp in enumerate(comps) for n in comp}
    needs: list[set[int]] = [set() for _ in comps]
    users: list[set[int]] = [set() for _ in comps]
    for n, targets in edges.items():
        for t in targets:
            a, b = comp_of[n], comp_of[t]
            if a != b:
                needs[a].add(b)
                users[b].add(a)
    waiting = [len(n) for n in needs]
    ready = [(comps[i][0], i) for i in range(len(comps)) if waiting[i] == 0]
    heapq.heapify(ready)
    result: list[str] = []
    while ready:
        _, i = heapq.heappop(ready)
        result.extend(_order_cycle(comps[i], strong, weak) if len(comps[i]) > 1 else comps[i])
        for user in users[i]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (comps[user][0], user))
    return result
