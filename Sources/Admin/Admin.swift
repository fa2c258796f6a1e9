// The Admin module; see ../shared/DESIGN.md for what it owns.
public enum AdminModule {}
