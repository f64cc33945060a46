#include "store/testing.h"

namespace quotamilter::store {

std::unique_ptr<StoreBackend> open_store_for_tests(const StoreOptions& options, const TestHooks& hooks) {
    return open_store_backend(options, hooks);
}

}  // namespace quotamilter::store
