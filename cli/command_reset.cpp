// quotamilter reset KEY [--policy NAME]: deletes the counters of KEY, so the
// sender starts afresh. Quiet on success.
#include "cli/admin_context.h"
#include "cli/commands.h"

#include <cstdio>
#include <stdexcept>

namespace quotamilter::cli {

namespace {

constexpr const char* kResetHelp =
    "usage: quotamilter reset [--config FILE] [--redis URL] [--rules FILE] KEY [--policy NAME]\n"
    "\n"
    "Clears the counters of KEY (an address, @domain or domain, SASL user, IP or\n"
    "network) in every policy, or only in policy NAME. KEY is normalised as the\n"
    "milter does (User1+x@HUDEDU.NET is user1@hudedu.net); with rules, an IP also\n"
    "clears the client_net counters of its networks.\n"
    "\n"
    "  --config FILE        serve's JSON configuration (redis, key_prefix, rules)\n"
    "  --redis URL          overrides the config (default redis://127.0.0.1:6379/0)\n"
    "  --rules FILE         rule file (for client_net prefixes)\n"
    "  --key-prefix PREFIX  Redis key prefix (default qm:)\n"
    "  --policy NAME        only this policy's counters\n";

}  // namespace

int run_reset(const Args& args) {
    auto options = admin_value_options();
    options.insert("policy");
    ParsedArgs parsed(args, options, {"help"});
    if (parsed.has("help")) {
        std::fputs(kResetHelp, stdout);
        return 0;
    }
    if (parsed.positional().size() != 1) throw UsageError("reset needs exactly one KEY");
    AdminContext context = open_admin_context(parsed);
    for (const auto& value : tracked_value_candidates(parsed.positional().front(), context.rules.get())) {
        const store::ResetResult reset = context.store->reset(value, parsed.value("policy"));
        if (reset.status != store::AdminStatus::ok)
            throw std::runtime_error("store: could not reset the counters of " + value + ": " + reset.error);
    }
    return 0;
}

}  // namespace quotamilter::cli
