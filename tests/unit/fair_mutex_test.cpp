// The machine lock hands itself over in order: a thread that lets it go
// and asks again at once queues behind one already waiting, which a plain
// mutex does not promise (a vCPU thread could then starve the main loop).
#include "qf/core/fair_mutex.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <thread>

TEST_CASE("the machine lock goes to the thread that asked first, not back to the one that let it go") {
    qf::fair_mutex m;
    std::string order;
    m.lock();
    std::thread waiter([&] {
        m.lock();
        order += 'B';
        m.unlock();
    });
    while (m.queued() < 2) std::this_thread::yield();  // B waits for it now
    m.unlock();
    m.lock();  // asks again at once: behind B
    order += 'A';
    m.unlock();
    waiter.join();
    CHECK(order == "BA");
    CHECK(m.queued() == 0);
    CHECK(m.try_lock());
    CHECK_FALSE(m.try_lock());
    m.unlock();
}
