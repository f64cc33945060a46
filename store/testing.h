// The test-only entry to the store: for tests/ and fuzz/ only; production code
// opens stores with open_store() (store/quota_store.h) and
// open_counter_admin() (store/counter_admin.h), which take no TestHooks.
// Linked from the qm_store_testing library (store/CMakeLists.txt), which no
// production target links.
//
// The object returned is both faces of one store (check/charge and
// status/reset on the same counters), plus the refund by receipt
// (store/store_backend.h).
#pragma once

#include <memory>

#include "store/store_backend.h"

namespace quotamilter::store {

std::unique_ptr<StoreBackend> open_store_for_tests(const StoreOptions& options,
                                                   const TestHooks& hooks = {});

}  // namespace quotamilter::store
