"""``python -m agentsite.tool_workers MEMORY_BYTES``: a tool worker process (see ``process``)."""

import sys

from agentsite.tool_workers.process import serve

serve(int(sys.argv[1]))
