"""SQLMesh reads its configuration here; the settings decide where the warehouse lives.

Run the `sqlmesh` command line from this folder with the same environment as the stack
(`STREAMSIM_STATE_DIR`, `STREAMSIM_CONFIG`) to work on the same warehouse.
"""

from streamsim.pipeline.project import sqlmesh_config
from streamsim.settings import load_settings

config = sqlmesh_config(load_settings())
