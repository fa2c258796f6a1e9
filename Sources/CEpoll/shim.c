// Intentionally empty: every wrapper is static inline in include/CEpoll.h.
#include "CEpoll.h"
