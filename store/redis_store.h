// The Redis store on one master: a single server (RedisPool) or the master
// Sentinels name (SentinelLink). One EVALSHA round trip per decision
// (store/lua/*.lua, embedded at build time), counters as small hashes that
// expire by themselves.
#pragma once

#include <memory>

#include "store/store_backend.h"
#include "store/redis_link.h"

namespace quotamilter::store {

std::unique_ptr<StoreBackend> make_redis_store(std::unique_ptr<RedisLink> master,
                                               const StoreOptions& options, const TestHooks& hooks);

}  // namespace quotamilter::store
