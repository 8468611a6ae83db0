"""A two-op graph whose costs are easy to compute by hand."""

from skyline.graph import ModelGraph, Op, Value


def hand_graph() -> ModelGraph:
    # x (1000 B) -> a (out 4000 B, 2 ms on host) -> b (out 100 B, 6 ms on host) -> output
    ops = [
        Op("a", "t", ("x",), 0, 10, (), 4000.0, None, None, 0.002),
        Op("b", "t", ("a",), 0, 20, (), 100.0, None, None, 0.006),
    ]
    return ModelGraph("hand", [Value("x", (250,), "float32", 1000)], ops, ["b"])
