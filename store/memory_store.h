// The in-process store (`memory:`): one host only, counters lost on restart.
// Same bucket arithmetic as the Redis scripts (store/window_math.h).
#pragma once

#include <memory>

#include "store/store_backend.h"

namespace quotamilter::store {

std::unique_ptr<StoreBackend> make_memory_store(const StoreOptions& options, const TestHooks& hooks);

}  // namespace quotamilter::store
