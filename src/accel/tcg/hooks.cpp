#include "qf/accel/tcg/hooks.hpp"

namespace qf::tcg::detail {

void hook_stop_here(env_base* env, std::uintptr_t retaddr) {
    env->hook_stop = 1;
    env->exit_request = 1;
    static_cast<engine*>(env->engine)->restore_state(retaddr);
    cpu_loop_exit(env);
}

void hook_stop_later(env_base* env) {
    env->hook_stop = 1;
    env->exit_request = 1;
}

} // namespace qf::tcg::detail
