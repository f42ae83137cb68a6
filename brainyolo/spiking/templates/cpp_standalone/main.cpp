{# brainyolo's main.cpp: Brian2's (devices/cpp_standalone/templates/main.cpp, 2.11) with the run's body in a
   function of its own and a serve mode beside the one-run mode.

   ./main [--results_dir DIR] NAME=VALUE...   one run, as Brian2's binary does it.
   ./main --serve                             one run per line on stdin (the same arguments, separated by
                                              tabs) in one process: each run is brian_start(), the body,
                                              brian_end() as in a fresh process, followed by a reset of what
                                              brian_end() leaves (brainyolo_reset); the server then writes its
                                              peak memory (peak_memory_bytes) into the run's results folder
                                              and prints "brainyolo-served 0". #}
#include <stdlib.h>
#include "objects.h"
#include <csignal>
#include <ctime>
#include <time.h>
{{ openmp_pragma('include') }}
#include "run.h"
#include "brianlib/common_math.h"
#if defined(__unix__) || defined(__APPLE__)
#define BRAINYOLO_SERVE 1
#include <sys/resource.h>
#include <climits>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#endif

{% for codeobj in code_objects | sort(attribute='name') %}
#include "code_objects/{{codeobj.name}}.h"
{% for block in codeobj.before_after_blocks %}
#include "code_objects/{{block}}_{{codeobj.name}}.h"
{% endfor %}
{% endfor %}

{% for name in user_headers | sort %}
#include {{name}}
{% endfor %}

#include <iostream>
#include <fstream>
#include <string>
#include <vector>

{{report_func|autoindent}}

void set_from_command_line(const std::vector<std::string> args)
{
    for (const auto& arg : args) {
		// Split into two parts
		size_t equal_sign = arg.find("=");
		auto name = arg.substr(0, equal_sign);
		auto value = arg.substr(equal_sign + 1, arg.length());
		brian::set_variable_by_name(name, value);
	}
}

void _int_handler(int signal_num) {
	if (Network::_globally_running && !Network::_globally_stopped) {
		Network::_globally_stopped = true;
	} else {
		std::signal(signal_num, SIG_DFL);
		std::raise(signal_num);
	}
}

// The arguments after an optional "--results_dir DIR" (which sets where the run writes its results).
static std::vector<std::string> brainyolo_results_dir(std::vector<std::string> args)
{
	if (args.size() >=2 && args[0] == "--results_dir")
	{
		brian::results_dir = args[1];
		args.erase(args.begin(), args.begin()+2);
	}
	return args;
}

// One run: Brian2's main body, with the run's NAME=VALUE arguments.
static void brainyolo_run(const std::vector<std::string> args)
{
	using namespace brian;

	{{ openmp_pragma('set_num_threads') }}
    {{main_lines|autoindent}}
}

#ifdef BRAINYOLO_SERVE
// What brian_end() leaves behind that a fresh process would not have: the arrays it does not free, the dynamic arrays (monitors,
// synapses), the spike queues, the profiling timers and the random generators (written by the device).
static void brainyolo_reset()
{
	using namespace brian;
    {{'\n'.join(code_lines['brainyolo_reset'])|autoindent}}
}

static int brainyolo_serve()
{
#ifdef __GLIBC__
	// The arrays a run frees stay in the process (up to glibc's largest heap block, 32 MiB): the next
	// run's arrays are the same pages, already mapped, instead of some 500 MB to fault in again.
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
	std::string line;
	while (std::getline(std::cin, line))
	{
		std::vector<std::string> args;
		size_t start = 0;
		while (start <= line.size())
		{
			size_t tab = line.find('\t', start);
			if (tab == std::string::npos)
				tab = line.size();
			if (tab > start)
				args.push_back(line.substr(start, tab - start));
			start = tab + 1;
		}
		args = brainyolo_results_dir(args);
        {{'\n'.join(code_lines['before_start'])|autoindent}}
		brian_start();
        {{'\n'.join(code_lines['after_start'])|autoindent}}
		brainyolo_run(args);
        {{'\n'.join(code_lines['before_end'])|autoindent}}
		brian_end();
        {{'\n'.join(code_lines['after_end'])|autoindent}}
		brainyolo_reset();
		struct rusage usage;
		getrusage(RUSAGE_SELF, &usage);
		{
			std::ofstream peak(brian::results_dir + "peak_memory_bytes");
			peak << (long long)usage.ru_maxrss * 1024;  // Linux: KiB
		}
		std::cout << "brainyolo-served 0" << std::endl;
	}
	return 0;
}
#endif

int main(int argc, char **argv)
{
	{% if prefs.core.stop_on_keyboard_interrupt %}
	std::signal(SIGINT, _int_handler);
	{% endif %}
	std::vector<std::string> args(argv + 1, argv + argc);
#ifdef BRAINYOLO_SERVE
	if (args.size() == 1 && args[0] == "--serve")
		return brainyolo_serve();
#endif
	args = brainyolo_results_dir(args);
    {{'\n'.join(code_lines['before_start'])|autoindent}}
	brian_start();
    {{'\n'.join(code_lines['after_start'])|autoindent}}
	brainyolo_run(args);
    {{'\n'.join(code_lines['before_end'])|autoindent}}
	brian_end();
    {{'\n'.join(code_lines['after_end'])|autoindent}}
	return 0;
}
