// The milter's envelope and header handling, driven like an MTA would but
// with arbitrary input: each input line is one event, its first byte says
// which (M mail, R rcpt, H header "name:value", E end of headers, B body,
// D end of message, A abort, C connect, T data); the rest is its argument.
// Rules with quotas, exemptions and content rules, against the memory store.
#include "filter/rules_holder.h"
#include "filter/session.h"
#include "rules/load.h"
#include "store/testing.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace quotamilter;

const char* kRules = R"json({"version": 1,
  "groups": {"internal": ["@hudedu.net", "@.hudedu.net"]},
  "policies": [
    {"name": "exempt_lists", "priority": 5, "exempt": true,
     "match": {"header": [{"name": "List-Id", "regex": "announce"}]}},
    {"name": "forged", "priority": 10, "verdict": "reject", "reply": "no {policy}",
     "match": {"sender": ["!%internal"], "header": [{"name": "From", "regex": "(?i)@hudedu\\.net>?\\s*$"}]}},
    {"name": "tag", "priority": 11, "verdict": "tag", "match": {"header": [{"name": "Precedence", "regex": "bulk"}]}},
    {"name": "hold", "priority": 12, "verdict": "quarantine", "match": {"header": [{"name": "Subject", "regex": "hold"}]}},
    {"name": "watch", "priority": 13, "mode": "monitor", "verdict": "discard",
     "match": {"header": [{"name": "Message-ID", "absent": true}]}},
    {"name": "per_from", "priority": 20, "quotas": [{"track": "header:From", "messages": 3, "window": 60, "verdict": "reject"}]},
    {"name": "per_sender", "priority": 30, "match": {"sender": ["%internal", "<>"]},
     "quotas": [{"track": "sender", "messages": 5, "window": "1m"}, {"track": "recipient_domain", "recipients": 4, "window": 60},
                {"track": "sender", "bytes": 5000, "window": 60, "verdict": "tempfail"}]}
  ]})json";

class NullLogger final : public filter::Logger {
public:
    NullLogger() : Logger(filter::LogLevel::debug) {}

protected:
    void write(filter::LogLevel, std::string_view) override {}
};

struct World {
    World() {
        auto loaded = rules::load_rules_text(kRules, "fuzz.json");
        if (!std::holds_alternative<rules::RuleSet>(loaded)) std::abort();
        holder = std::make_unique<filter::RulesHolder>(
            std::make_shared<const rules::RuleSet>(std::move(std::get<rules::RuleSet>(loaded))));
        store::StoreOptions options;
        options.url = "memory:";
        std::int64_t* clock = &now_ms;
        store::TestHooks hooks;
        hooks.simulated_clock_ms = [clock] { return *clock; };
        store = store::open_store_for_tests(options, hooks);
        environment = std::make_unique<filter::FilterEnvironment>(*holder, *store, logger, filter::FilterSettings{});
    }
    std::int64_t now_ms = 1'700'000'000'000;
    NullLogger logger;
    std::unique_ptr<filter::RulesHolder> holder;
    std::unique_ptr<store::QuotaStore> store;
    std::unique_ptr<filter::FilterEnvironment> environment;
};

// Whatever a negotiation may give: the bits of the input's size choose which
// content stages come and which stages answer nothing.
filter::NegotiatedStages stages_of(std::size_t size) {
    filter::NegotiatedStages stages;
    stages.body = (size & 1) != 0;
    stages.headers = (size & 2) == 0;
    stages.end_of_headers = (size & 4) == 0;
    stages.no_reply_mail = (size & 8) != 0;
    stages.no_reply_rcpt = (size & 16) != 0;
    stages.no_reply_header = (size & 32) != 0;
    stages.no_reply_connect = stages.no_reply_data = stages.no_reply_body = (size & 64) != 0;
    return stages;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static World world;
    world.now_ms += 61'000;  // every input starts with fresh windows, whatever the previous one left
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    auto session = std::make_unique<filter::Session>(*world.environment, stages_of(size));
    constexpr std::size_t kMaxEvents = 2000;
    std::size_t events = 0;
    for (std::size_t start = 0; start < input.size() && events < kMaxEvents; ++events) {
        std::size_t end = input.find('\n', start);
        if (end == std::string_view::npos) end = input.size();
        const std::string_view line = input.substr(start, end - start);
        start = end + 1;
        if (line.empty()) continue;
        const std::string argument(line.substr(1));
        filter::FilterAnswer answer;
        switch (line[0]) {
            case 'C': answer = session->on_connect(argument.empty() ? std::nullopt : std::optional<std::string>(argument),
                                                   static_cast<std::uint16_t>(argument.size() % 3)); break;
            case 'M': {
                std::vector<std::string> params;
                if (argument.size() > 2) params.push_back("SIZE=" + argument.substr(argument.size() - 2));
                answer = session->on_mail(argument, params,
                                          argument.size() % 2 ? std::optional<std::string>("user") : std::nullopt,
                                          std::nullopt);
                break;
            }
            case 'R': answer = session->on_rcpt(argument, std::string("QID")); break;
            case 'T': answer = session->on_data(std::nullopt); break;
            case 'H': {
                const std::size_t colon = argument.find(':');
                answer = colon == std::string::npos ? session->on_header(argument, "")
                                                    : session->on_header(std::string_view(argument).substr(0, colon),
                                                                         std::string_view(argument).substr(colon + 1));
                break;
            }
            case 'E': answer = session->on_eoh(); break;
            case 'B': answer = session->on_body(argument.size() * 100); break;
            case 'D': answer = session->on_eom(std::nullopt); break;
            case 'A': session->on_abort(); break;
            default: break;
        }
        if (answer.refuses() && answer.rcode.empty() == false && answer.rcode[0] != '4' && answer.rcode[0] != '5')
            std::abort();  // a refusal carries a 4xx/5xx code
        if (!answer.text.empty() && answer.text.find_first_of("\r\n") != std::string::npos) std::abort();
    }
    return 0;
}
