"""An in-test fake of the Flyte 2 run service (connect-rpc over HTTP)."""
