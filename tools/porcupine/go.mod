module github.com/aio-etcd/aio-etcd/tools/porcupine

go 1.22

require github.com/anishathalye/porcupine v1.3.1
