#include "store/redis_pool.h"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <utility>

namespace quotamilter::store {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds first_backoff{100};
constexpr std::chrono::milliseconds max_backoff{1000};

// What is left until the deadline, floored to a multiple of 4 ms and at
// least 1 ms (a zero timeval means "block forever" to hiredis). The floor
// lets a connection keep the timeout set on it by the call before (calls
// start with nearly the same time left): re-setting it costs two
// setsockopt per call. Each read or write still waits at most until the
// deadline.
std::chrono::milliseconds remaining(Deadline deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return std::max(left / 4 * 4, std::chrono::milliseconds(1));
}

timeval as_timeval(std::chrono::milliseconds ms) {
    return timeval{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
}

bool sigpipe_ignored() {
    struct sigaction current {};
    return sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_IGN;
}

std::string context_error(const redisContext* c, const char* during) {
    std::string why = c->errstr[0] ? c->errstr : "connection failed";
    if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
        why = "timed out";
    return std::string("Redis ") + during + ": " + why;
}

// hiredis writes with write(2): a write to a connection Redis has closed
// raises SIGPIPE, which kills a process that does not ignore it (`quotamilter
// serve` ignores it; tests and other callers may not). Where it is not
// ignored, block it in this thread for the call and swallow one raised
// meanwhile (four syscalls per call, so only then).
class SigpipeBlocked {
public:
    explicit SigpipeBlocked(bool needed) : needed_(needed) {
        if (!needed_) return;
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~SigpipeBlocked() {
        if (!needed_) return;
        if (!was_pending_) {
            sigset_t pending;
            sigpending(&pending);
            if (sigismember(&pending, SIGPIPE) == 1) {
                const timespec no_wait{0, 0};
                sigtimedwait(&pipe_, nullptr, &no_wait);
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    SigpipeBlocked(const SigpipeBlocked&) = delete;
    SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

private:
    const bool needed_;
    sigset_t pipe_{};
    sigset_t old_{};
    bool was_pending_ = false;
};

// Appends every command to the context's output buffer (nothing is sent yet).
bool append_commands(redisContext* c, std::span<const RedisCommand> commands) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const auto& command : commands) {
        argv.clear();
        lengths.clear();
        for (const auto& arg : command) {
            argv.push_back(arg.data());
            lengths.push_back(arg.size());
        }
        if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK)
            return false;
    }
    return true;
}

// Appends every command, then reads every reply: one round trip.
// `timeout_set`: the socket timeout last set on `c` (0: none yet).
bool pipeline(redisContext* c, std::span<const RedisCommand> commands,
              std::vector<ReplyPtr>& replies, Deadline deadline, bool block_sigpipe,
              std::chrono::milliseconds& timeout_set, std::string& error) {
    const SigpipeBlocked no_sigpipe(block_sigpipe);
    const auto timeout = remaining(deadline);
    if (timeout != timeout_set) {
        timeout_set = std::chrono::milliseconds(0);
        if (redisSetTimeout(c, as_timeval(timeout)) != REDIS_OK) {
            error = context_error(c, "setting the timeout");
            return false;
        }
        timeout_set = timeout;
    }
    if (!append_commands(c, commands)) {
        error = context_error(c, "command");
        return false;
    }
    replies.clear();
    for (std::size_t i = 0; i < commands.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
            error = context_error(c, "command");
            return false;
        }
        replies.emplace_back(static_cast<redisReply*>(raw));
    }
    return true;
}

}  // namespace

RedisPool::RedisPool(RedisEndpoint endpoint, std::chrono::milliseconds timeout, std::size_t size)
    : endpoint_(std::move(endpoint)),
      timeout_(timeout),
      block_sigpipe_(!sigpipe_ignored()),
      slots_(std::max<std::size_t>(size, 1)) {}

ContextPtr RedisPool::connect(Deadline deadline, std::chrono::milliseconds& timeout_set,
                              std::string& error) const {
    timeout_set = std::chrono::milliseconds(0);
    const timeval tv = as_timeval(remaining(deadline));
    ContextPtr c(endpoint_.kind == RedisEndpoint::Kind::unix_socket
                     ? redisConnectUnixWithTimeout(endpoint_.socket_path.c_str(), tv)
                     : redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv));
    if (!c) {
        error = "Redis connect to " + describe(endpoint_) + ": out of memory";
        return nullptr;
    }
    if (c->err) {
        error = context_error(c.get(), "connect") + " (" + describe(endpoint_) + ")";
        return nullptr;
    }
    std::vector<RedisCommand> setup;
    if (!endpoint_.password.empty()) {
        if (endpoint_.user.empty())
            setup.push_back({"AUTH", endpoint_.password});
        else
            setup.push_back({"AUTH", endpoint_.user, endpoint_.password});
    }
    if (endpoint_.db != 0) setup.push_back({"SELECT", std::to_string(endpoint_.db)});
    if (setup.empty()) return c;
    std::vector<ReplyPtr> replies;
    if (!pipeline(c.get(), setup, replies, deadline, block_sigpipe_, timeout_set, error)) return nullptr;
    for (std::size_t i = 0; i < replies.size(); ++i) {
        if (replies[i]->type == REDIS_REPLY_ERROR) {
            error = "Redis " + setup[i][0] + " on " + describe(endpoint_) + ": " +
                    std::string(replies[i]->str, replies[i]->len);
            return nullptr;
        }
    }
    return c;
}

void RedisPool::note_failure(const std::string& error) {
    // Caller holds mutex_.
    ++generation_;
    backoff_ = backoff_.count() == 0 ? first_backoff : std::min(backoff_ * 2, max_backoff);
    retry_at_ = Clock::now() + backoff_;
    last_error_ = error;
}

bool RedisPool::run(std::span<const RedisCommand> commands, std::vector<ReplyPtr>& replies,
                    Deadline deadline, std::string& error) {
    std::optional<Lease> connection = lease(deadline, error);
    return connection && connection->send(commands, error) && connection->receive(replies, error);
}

// --- Split exchanges (RedisPool::Lease) ---------------------------------

std::optional<RedisPool::Lease> RedisPool::lease(Deadline deadline, std::string& error) {
    std::unique_lock lock(mutex_);
    Slot* slot = nullptr;
    const bool got_one = slot_freed_.wait_until(lock, deadline, [&] {
        for (auto& s : slots_)
            if (!s.busy) {
                slot = &s;
                return true;
            }
        return false;
    });
    if (!got_one) {
        error = "Redis: no free connection within " + std::to_string(timeout_.count()) + " ms";
        return std::nullopt;
    }
    slot->busy = true;
    if (slot->context && slot->generation != generation_) slot->context.reset();
    if (!slot->context && Clock::now() < retry_at_) {
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - Clock::now());
        error = last_error_ + " (not retrying for another " + std::to_string(wait.count()) + " ms)";
        slot->busy = false;
        slot_freed_.notify_one();
        return std::nullopt;
    }
    const std::uint64_t generation = generation_;
    ContextPtr context = std::move(slot->context);
    auto timeout_set = slot->timeout_set;
    lock.unlock();
    if (!context) context = connect(deadline, timeout_set, error);
    if (!context) {
        lock.lock();
        note_failure(error);
        slot->busy = false;
        slot_freed_.notify_one();
        return std::nullopt;
    }
    return Lease(*this, *slot, std::move(context), generation, timeout_set, deadline);
}

RedisPool::Lease::Lease(RedisPool& pool, Slot& slot, ContextPtr context, std::uint64_t generation,
                        std::chrono::milliseconds timeout_set, Deadline deadline)
    : pool_(&pool),
      slot_(&slot),
      context_(std::move(context)),
      generation_(generation),
      timeout_set_(timeout_set),
      deadline_(deadline) {}

RedisPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      slot_(std::exchange(other.slot_, nullptr)),
      context_(std::move(other.context_)),
      generation_(other.generation_),
      timeout_set_(other.timeout_set_),
      deadline_(other.deadline_),
      unread_(other.unread_),
      failure_(std::move(other.failure_)) {}

RedisPool::Lease::~Lease() {
    if (!pool_) return;  // moved from
    std::lock_guard lock(pool_->mutex_);
    if (!failure_.empty()) {
        context_.reset();  // a failed context is never reused
        pool_->note_failure(failure_);
    } else if (unread_ > 0) {
        context_.reset();  // replies still on their way: not reusable, but not a failure
    } else {
        pool_->backoff_ = std::chrono::milliseconds(0);
        slot_->context = std::move(context_);
        slot_->generation = generation_;
        slot_->timeout_set = timeout_set_;
    }
    slot_->busy = false;
    pool_->slot_freed_.notify_one();
}

bool RedisPool::Lease::set_timeout(std::string& error) {
    const auto timeout = remaining(deadline_);
    if (timeout == timeout_set_) return true;
    timeout_set_ = std::chrono::milliseconds(0);
    if (redisSetTimeout(context_.get(), as_timeval(timeout)) != REDIS_OK) {
        error = failure_ = context_error(context_.get(), "setting the timeout");
        return false;
    }
    timeout_set_ = timeout;
    return true;
}

bool RedisPool::Lease::send(std::span<const RedisCommand> commands, std::string& error) {
    if (!failure_.empty()) {
        error = failure_;
        return false;
    }
    redisContext* c = context_.get();
    const SigpipeBlocked no_sigpipe(pool_->block_sigpipe_);
    if (!set_timeout(error)) return false;
    if (!append_commands(c, commands)) {
        error = failure_ = context_error(c, "command");  // the context is dropped: unread_ no longer matters
        return false;
    }
    unread_ += commands.size();
    // Written now, not at the first read: the server starts on them while
    // this thread sends to the other nodes.
    for (int done = 0; !done;)
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            error = failure_ = context_error(c, "command");
            return false;
        }
    return true;
}

bool RedisPool::Lease::receive(std::vector<ReplyPtr>& replies, std::string& error) {
    replies.clear();
    if (!failure_.empty()) {
        error = failure_;
        return false;
    }
    redisContext* c = context_.get();
    const SigpipeBlocked no_sigpipe(pool_->block_sigpipe_);
    if (!set_timeout(error)) return false;
    while (unread_ > 0) {
        void* raw = nullptr;
        if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
            error = failure_ = context_error(c, "command");
            return false;
        }
        replies.emplace_back(static_cast<redisReply*>(raw));
        --unread_;
    }
    return true;
}

}  // namespace quotamilter::store
