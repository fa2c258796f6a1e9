// ccload-store-bench: the request-log writer's cost per record. Writes N realistic request
// records through `StoreWriter` into a temporary SQLite file and prints records per CPU-second
// of the writer thread. Bounded: N records (default 200,000) and --seconds of wall time.
import Glibc

StoreBench.main(CommandLine.arguments)
