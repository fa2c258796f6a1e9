// Entry point only: top-level code is @MainActor, so threads are made elsewhere.
LoadGenCommand.main()
