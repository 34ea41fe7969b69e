"""etcd's v3 ``.proto`` files, shipped as data: the source of ``_descriptors.py`` (see
``tools/grpc/build_descriptors.py``); nothing here is imported at run time."""
