// The in-process store (`memory:`): one host only, counters lost on restart.
// Same bucket arithmetic as the Redis scripts (store/window_math.h).
#pragma once

#include <memory>

#include "store/quota_store.h"

namespace quotamilter::store {

std::unique_ptr<QuotaStore> make_memory_store(const StoreOptions& options);

}  // namespace quotamilter::store
