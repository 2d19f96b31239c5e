"""What every lifecycle node here shares: its parameter table's declarations and refusals, the transitions around
serve/release (`ServingNode`) and the `main()` (--help, signals, autostart check, spin, clean exit).

SIGINT or SIGTERM at any time — during the slow start-up, while spinning, twice under load — ends the node
cleanly with exit status 0 and no traceback; status 1 when autostart could not reach the active state.
"""
from __future__ import annotations

import signal
import sys
import time
from typing import Any, Callable

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions

from mpm_ros.inputs import clip
from mpm_ros.param_table import ParamTable, ros_value
from mpm_ros.worker import InferenceWorker

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
LOG_THROTTLE_S = 5.0  # a warning of one reason at most this often (a flood of one kind hides no other)


def sensor_qos(depth: int) -> QoSProfile:
    """Inputs: best effort, volatile, keep last `depth` (takes best-effort and reliable publishers)."""
    return QoSProfile(depth=depth, reliability=qos_profile_sensor_data.reliability,
                      durability=qos_profile_sensor_data.durability, history=HistoryPolicy.KEEP_LAST)


def reliable_qos(depth: int) -> QoSProfile:
    """Outputs (and depth images with depth_reliable): reliable, volatile, keep last `depth`."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


class ServingNode(LifecycleNode):
    """A lifecycle node whose activate starts serving and whose configure acquires what serving needs:
    deactivate stops serving, cleanup releases, shutdown does both. Subclasses write `_stop_serving()` and
    `_release()`; `autostart()` (configure + activate when the autostart parameter is set) is run by the
    constructor of each node unless deferred, and by `run_lifecycle_node` inside its signal guard.

    Parameters, the same for every node: `table` is declared at construction; overrides ROS refused or would drop
    silently (`argv`: the process arguments) are kept in `_refused` and fail configure (`_read_parameters`); a
    runtime set is refused when it adds a problem configure would refuse, or changes a non-live parameter while
    configured (`_params` is not None); live ones reach `_apply_live`. `validate()` adds a node's cross-checks."""

    def __init__(self, name: str, table: ParamTable, argv: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.table = table
        self._params: Any = None  # the node's parameter record while configured
        self._outputs: dict[str, Any] = {}  # lifecycle publishers, from configure to cleanup
        self._inputs: list[Any] = []  # subscriptions, while active
        self._timer: Any = None  # the 1 Hz diagnostics timer, while active
        self._worker: InferenceWorker | None = None  # started with serving, stopped before anything is destroyed
        self._warned_at: dict[str, float] = {}  # reason -> monotonic s of its last warning (_warn)
        # what rclpy declared itself (use_sim_time, start_type_description_service): accepted by -p and a set
        self._ros_declared = frozenset(self.get_parameters_by_prefix(""))
        self._refused = table.declare(self) | table.command_line_problems(argv or [], self.get_name(),
                                                                            self._ros_declared)
        ignored = sorted(name for name in self._parameter_overrides if not self.has_parameter(name))
        if ignored:  # a params file may be shared with other nodes: say so, but do not refuse
            self.get_logger().warning(f"ignoring parameters this node does not have: {clip(', '.join(ignored))}")
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _warn(self, reason: str, message: str) -> None:
        """Log at most once per LOG_THROTTLE_S per reason."""
        now = time.monotonic()
        if now - self._warned_at.get(reason, -LOG_THROTTLE_S) >= LOG_THROTTLE_S:
            self._warned_at[reason] = now
            self.get_logger().warning(message)

    def validate(self, values: dict[str, Any]) -> list[str]:
        """Every problem configure would refuse in `values` (the table's rules; nodes add cross-checks)."""
        return self.table.validate(values)

    def _read_parameters(self) -> tuple[dict[str, Any], list[str]]:
        """(current values, every reason configure must refuse: refused overrides and invalid values)."""
        values = self.table.read(self)
        return values, list(self._refused.values()) + self.validate(values)

    def _apply_live(self, values: dict[str, Any]) -> None:
        """Apply accepted live parameter values on a configured node."""

    def set_parameters(self, parameter_list: list[Parameter]) -> list[SetParametersResult]:
        """rclpy's, except that an unknown name or a value of the wrong type is refused with the sentence configure
        uses (rclpy would say "Invalid access to undeclared parameter(s)" or "Wrong parameter type, expected '3'
        got '2'" before our callback runs)."""
        return [self.set_parameters_atomically([parameter]) for parameter in parameter_list]

    def set_parameters_atomically(self, parameter_list: list[Parameter]) -> SetParametersResult:
        """The `ros2 param set` / set_parameters service path; refusals as in set_parameters."""
        for parameter in parameter_list:
            spec = self.table.by_name.get(parameter.name)
            if spec is None and parameter.name in self._ros_declared:
                continue  # ROS's own (use_sim_time): rclpy checks it
            if spec is None:
                return SetParametersResult(successful=False,
                                           reason=self.table.no_such_parameter(parameter.name, self.get_name()))
            problem = spec.problem(parameter.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return super().set_parameters_atomically(parameter_list)

    def _on_set_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        current = self.table.read(self)
        requested = {change.name: ros_value(change.value) for change in changes}
        configured = self.lifecycle_state if self._params is not None else None
        reason = self.table.runtime_refusal(current, requested, self.validate, configured)
        if reason is not None:
            return SetParametersResult(successful=False, reason=reason)
        for name in requested:  # a corrected start-up override no longer blocks configure
            self._refused.pop(name, None)
        if self._params is not None:
            self._apply_live(current | {n: v for n, v in requested.items() if n in self.table.by_name})
        return SetParametersResult(successful=True)

    @property
    def lifecycle_state(self) -> str:
        return self._state_machine.current_state[1]

    def autostart(self) -> None:
        if self.get_parameter("autostart").value and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def _serve(self, inputs: list[Any], publish_diagnostics: Callable[[], None]) -> None:
        """Start serving (activate): the subscriptions, the worker, the diagnostics timer."""
        self._inputs = inputs
        if self._worker is not None:
            self._worker.start()
        self._timer = self.create_timer(1.0, publish_diagnostics)

    def _stop_serving(self) -> None:
        """Deactivate: subscriptions and timer destroyed, the worker stopped (queued jobs discarded)."""
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        self.stop_worker()

    def stop_worker(self) -> None:
        """Stop the worker thread and wait for it: after this returns nothing publishes from it (no ROS calls:
        safe after a signal shut the context down)."""
        if self._worker is not None:
            self._worker.stop()

    def destroy_node(self) -> None:
        """Also ends the worker: a destroyed node leaves no thread behind holding it (and its DDS participant)."""
        self.stop_worker()
        super().destroy_node()

    def _release(self) -> None:
        """Cleanup: the publishers; nodes release what else configure acquired."""
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs = {}

    def _refuse(self, what: str, reasons: list[str]) -> TransitionCallbackReturn:
        self.get_logger().error(f"configure refused — {what}:\n  " + "\n  ".join(reasons))
        return TransitionCallbackReturn.FAILURE

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_serving()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_serving()
        self._release()
        return super().on_shutdown(state)


class ShutdownRequested(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM during start-up (BaseException: no `except Exception`
    swallows it)."""


class StopSignals:
    """The first signal sets `requested`; during start-up (`interrupt`) it also raises ShutdownRequested to cut a
    long configure short. While spinning nothing is raised — an exception inside an executor callback would leave
    a task unfinished that executor.shutdown() then waits for — the spin loop polls `requested` instead. Later
    signals are ignored (SIG_IGN, which also holds during interpreter finalisation) so the shutdown runs to the end.
    Ours, not rclpy's: the context must stay valid until a worker thread has stopped publishing."""

    def __init__(self) -> None:
        self.requested = False
        self.interrupt = True
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame) -> None:
        for other in STOP_SIGNALS:
            signal.signal(other, signal.SIG_IGN)
        self.requested = True
        if self.interrupt:
            raise ShutdownRequested(signum)


def run_lifecycle_node(make_node: Callable[[list[str]], ServingNode], usage: str, argv: list[str] | None = None
                       ) -> int:
    """Build the node with `make_node(argv)` (autostart deferred), run its `autostart()`, spin until a stop
    signal."""
    args = sys.argv if argv is None else argv
    own_args = args[1:args.index("--ros-args")] if "--ros-args" in args else args[1:]
    if "-h" in own_args or "--help" in own_args:
        print(usage)
        return 0
    stop = StopSignals()
    node = executor = None
    status = 0
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        node = make_node(args)  # every node refuses the -p overrides ROS would drop (ServingNode)
        node.autostart()
        stop.interrupt = False  # from here on the loop below polls stop.requested
        if stop.requested:
            pass
        elif node.get_parameter("autostart").value and node.lifecycle_state != "active":
            node.get_logger().fatal(f"autostart failed: node is '{node.lifecycle_state}' (see the errors above)")
            status = 1
        else:
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            while not stop.requested and rclpy.ok():  # short waits: a signal ends the loop within 0.1 s
                executor.spin_once(timeout_sec=0.1)
    except ShutdownRequested:
        pass
    finally:
        if node is not None:
            node.stop_worker()  # first: a worker publishes, so it must end while the context is valid
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return status
