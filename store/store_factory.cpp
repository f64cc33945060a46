// open_store(), open_counter_admin(): pick the implementation from the URL.
#include <stdexcept>

#include "store/cluster_store.h"
#include "store/counter_admin.h"
#include "store/key_layout.h"
#include "store/memory_store.h"
#include "store/quota_store.h"
#include "store/redis_pool.h"
#include "store/redis_store.h"
#include "store/redis_url.h"
#include "store/sentinel_link.h"
#include "store/store_backend.h"

namespace quotamilter::store {

std::unique_ptr<StoreBackend> open_store_backend(const StoreOptions& options, const TestHooks& hooks) {
    if (!key_layout::valid_prefix(options.key_prefix))
        throw std::invalid_argument("invalid key prefix '" + options.key_prefix +
                                    "': it must not contain '{' or '}' (the hash tag)");
    if (options.timeout.count() <= 0)
        throw std::invalid_argument("the store timeout must be positive");
    if (options.url == "memory:") return make_memory_store(options, hooks);
    const RedisTopology topology = parse_redis_topology(options.url);
    switch (topology.kind) {
        case RedisTopology::Kind::sentinel:
            return make_redis_store(
                std::make_unique<SentinelLink>(topology, options.timeout, options.pool_size), options, hooks);
        case RedisTopology::Kind::cluster:
            return make_cluster_store(topology, options, hooks);
        case RedisTopology::Kind::single:
            break;
    }
    return make_redis_store(
        std::make_unique<RedisPool>(topology.endpoint, options.timeout, options.pool_size), options, hooks);
}

std::unique_ptr<QuotaStore> open_store(const StoreOptions& options) {
    return open_store_backend(options, TestHooks{});
}

std::unique_ptr<CounterAdmin> open_counter_admin(const StoreOptions& options) {
    return open_store_backend(options, TestHooks{});
}

}  // namespace quotamilter::store
