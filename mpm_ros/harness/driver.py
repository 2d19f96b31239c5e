"""One rclpy driver for the harness: a node that publishes inputs like a sensor (best effort) and records what
the pipeline publishes. In its own context (a node in another process) or beside in-process nodes in theirs."""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data


class Driver:
    """`publish(topic, msg)` creates a sensor-data publisher on first use; `record(type, topic, callback)`
    subscribes (reliable, depth 100). `context=None` = a private context, shut down by `close()`."""

    def __init__(self, name: str, context: rclpy.Context | None = None, nodes: Iterable[Any] = ()) -> None:
        self._own_context = context is None
        if context is None:
            context = rclpy.Context()
            rclpy.init(context=context)
        self.context = context
        self.node = rclpy.create_node(name, context=context)
        self._publishers: dict[str, Any] = {}
        self.executor = SingleThreadedExecutor(context=context)
        for node in [self.node, *nodes]:
            self.executor.add_node(node)

    def publisher(self, msg_type: type, topic: str) -> Any:
        if topic not in self._publishers:
            self._publishers[topic] = self.node.create_publisher(msg_type, topic, qos_profile_sensor_data)
        return self._publishers[topic]

    def publish(self, topic: str, msg: Any) -> None:
        self.publisher(type(msg), topic).publish(msg)

    def record(self, msg_type: type, topic: str, callback: Callable[[Any], None], depth: int = 100) -> None:
        self.node.create_subscription(msg_type, topic, callback, depth)

    def spin_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Spin until predicate() holds or timeout seconds passed; predicate()'s last value."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return predicate()
            self.executor.spin_once(timeout_sec=0.005)
        return True

    def matched(self, inputs: Iterable[str] = (), outputs: Iterable[str] = ()) -> bool:
        """Every input topic has a subscriber and every output topic a publisher."""
        return all(self._publishers[t].get_subscription_count() > 0 for t in inputs) and \
            all(self.node.count_publishers(t) > 0 for t in outputs)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        if self._own_context:
            rclpy.shutdown(context=self.context)
