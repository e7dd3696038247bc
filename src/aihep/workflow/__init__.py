"""Running jobs: executors (local processes, Dask, batch clusters), seeds and manifests."""
