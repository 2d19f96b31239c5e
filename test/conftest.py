"""Test-wide ROS isolation: a private DDS domain, localhost-only discovery and a temp ROS_HOME.

`make test` sets these already; this keeps a bare `pytest` run just as isolated. They must be set
before rclpy.init(), which no test module does at import time.
"""
import gc
import os
import random
import tempfile

import pytest

os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
os.environ.setdefault("ROS_HOME", tempfile.mkdtemp(prefix="mpm_ros_home_"))
os.environ.setdefault("ROS_LOG_DIR", os.path.join(os.environ["ROS_HOME"], "log"))


@pytest.fixture
def context():
    """A private rclpy context per test, shut down and released afterwards.

    Released means garbage-collected: a context's DDS participant lives until then, and nodes form reference
    cycles with it. Fast DDS with localhost-only discovery reaches only a limited range of participant ids, so
    dozens of lingering participants in this process hide a node started in another process ("not discovered").
    """
    import rclpy

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)
    del ctx
    gc.collect()
