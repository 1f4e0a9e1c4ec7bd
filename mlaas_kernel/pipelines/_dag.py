"""The steps as a graph: each step's dependencies, an order that respects them, cycles named."""

from __future__ import annotations


def topological_order(deps: dict[str, set[str]]) -> list[str]:
    """The steps, each after its dependencies (ties in the spec's order); raises ValueError naming a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = path[path.index(node):] + [node]
            raise ValueError("a cycle: " + " -> ".join(cycle))
        state[node] = 1
        for dep in sorted(deps[node], key=list(deps).index):
            visit(dep, path + [node])
        state[node] = 2
        order.append(node)

    for node in deps:
        visit(node, [])
    return order


def dependants(deps: dict[str, set[str]], step: str) -> set[str]:
    """Every step that needs ``step``, directly or through others."""
    out: set[str] = set()
    frontier = {step}
    while frontier:
        nxt = {s for s, d in deps.items() if d & frontier and s not in out}
        out |= nxt
        frontier = nxt
    return out


def ancestors(deps: dict[str, set[str]], step: str) -> set[str]:
    """Every step ``step`` needs, directly or through others."""
    out: set[str] = set()
    frontier = set(deps[step])
    while frontier:
        out |= frontier
        frontier = {d for s in frontier for d in deps[s]} - out
    return out
