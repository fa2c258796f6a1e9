// The Reactor module: event loops, sockets, timers and HTTP/1.1. Knows nothing about LLMs.
public enum ReactorModule {}
