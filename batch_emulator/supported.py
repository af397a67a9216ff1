"""The node images the emulated account lists (``Pools_ListSupportedImages``)."""

# What the emulated account offers (``Pools_ListSupportedImages``): current Ubuntu LTS images,
# with and without Docker, as the service lists them; the GPU-ready ``ubuntu-hpc`` image also
# lists its NVIDIA driver capability (what superbatch's GPU pools look for; the nodes
# themselves have no GPU: docs/emulator.md). BatchEmulator(supported_images=...)
# replaces the list.
SUPPORTED_IMAGES = (
    {
        "nodeAgentSKUId": "batch.node.ubuntu 24.04",
        "osType": "linux",
        "imageReference": {
            "publisher": "canonical",
            "offer": "ubuntu-24_04-lts",
            "sku": "server",
            "version": "latest",
        },
        "capabilities": [],
        "verificationType": "verified",
    },
    {
        "nodeAgentSKUId": "batch.node.ubuntu 24.04",
        "osType": "linux",
        "imageReference": {
            "publisher": "microsoft-dsvm",
            "offer": "ubuntu-hpc",
            "sku": "2404",
            "version": "latest",
        },
        "capabilities": ["DockerCompatible", "NvidiaTeslaDriverInstalled"],
        "verificationType": "verified",
    },
    {
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        "osType": "linux",
        "imageReference": {
            "publisher": "canonical",
            "offer": "0001-com-ubuntu-server-jammy",
            "sku": "22_04-lts",
            "version": "latest",
        },
        "capabilities": [],
        "batchSupportEndOfLife": "2027-06-30T00:00:00Z",
        "verificationType": "verified",
    },
)
