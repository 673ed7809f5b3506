"""Scale-out on a Ray cluster: the same services as Ray Serve deployments, one per model family.

Only `ostinato serve --ray` and `ostinato cluster` import this package, and only they need the optional
`ray` extra (`pip install .[ray]`). The deployments wrap the servicers of server/services unchanged; a
plain grpcio front server keeps what clients rely on (auth, TLS, health, reflection, status codes) and
forwards each call to the Serve gRPC proxy. See docs/scale_out.md.
"""
