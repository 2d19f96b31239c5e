"""The `main()` of the small lifecycle nodes (pose2d, input adapter): --help, autostart check, spin, clean exit."""
from __future__ import annotations

import sys
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


def run_lifecycle_node(make_node: Callable[[], object], usage: str, argv: list[str] | None = None) -> int:
    """Spin the node until Ctrl-C; exit status 1 when autostart could not reach the active state, 0 otherwise."""
    args = sys.argv if argv is None else argv
    own_args = args[1:args.index("--ros-args")] if "--ros-args" in args else args[1:]
    if "-h" in own_args or "--help" in own_args:
        print(usage)
        return 0
    rclpy.init(args=args)
    node = make_node()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    status = 0
    try:
        if node.get_parameter("autostart").value and node.lifecycle_state != "active":
            node.get_logger().fatal(f"autostart failed: node is '{node.lifecycle_state}' (see the errors above)")
            status = 1
        else:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if hasattr(node, "stop_worker"):
            node.stop_worker()  # nothing publishes from a worker thread while the context goes down
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return status
