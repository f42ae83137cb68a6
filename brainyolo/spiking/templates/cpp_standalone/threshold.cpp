{# brainyolo's thresholder: Brian2's own (serial) threshold template, branch-free without      #}
{# refractoriness (a spiking layer's events are hard to predict), plus an OpenMP path.          #}
{# With OpenMP, the neurons are cut into one contiguous chunk per thread; each chunk writes its #}
{# events in place at the chunk's start, then the blocks are moved together in chunk order:    #}
{# exactly the ordered event list of the serial scan.                                          #}
{# USES_VARIABLES { N } #}
{% extends 'common_group.cpp' %}
{% block maincode %}
    //// MAIN CODE ////////////
    // scalar code
    const int _vectorisation_idx = -1;
    {{scalar_code|autoindent}}

    {% set _eventspace = get_array_name(eventspace_variable) %}
    {% if openmp_pragma('with_openmp') %}
    const int _n_chunks = {{ openmp_pragma('get_num_threads') }} < 256 ? {{ openmp_pragma('get_num_threads') }} : 256;
    long _chunk_count[256];
    {{ openmp_pragma('parallel-static') }}
    for (int _chunk = 0; _chunk < _n_chunks; _chunk++)
    {
        const size_t _begin = (size_t)(((int64_t)N * _chunk) / _n_chunks);
        const size_t _end = (size_t)(((int64_t)N * (_chunk + 1)) / _n_chunks);
        long _count = 0;
        for (size_t _idx = _begin; _idx < _end; _idx++)
        {
            const size_t _vectorisation_idx = _idx;
            {{vector_code|autoindent}}
            {% if _uses_refractory %}
            if (_cond) {
                {{_eventspace}}[_begin + _count++] = _idx;
                {{not_refractory}}[_idx] = false;
                {{lastspike}}[_idx] = {{t}};
            }
            {% else %}
            // branch-free: the slot is written whatever _cond (it lies in this chunk, at or
            // before _idx), and only kept when _cond holds
            {{_eventspace}}[_begin + _count] = _idx;
            _count += (_cond != 0);
            {% endif %}
        }
        _chunk_count[_chunk] = _count;
    }
    long _count = 0;
    for (int _chunk = 0; _chunk < _n_chunks; _chunk++)
    {
        const size_t _begin = (size_t)(((int64_t)N * _chunk) / _n_chunks);
        if (_chunk_count[_chunk] > 0 && _begin != (size_t)_count)
            memmove(&{{_eventspace}}[_count], &{{_eventspace}}[_begin], _chunk_count[_chunk] * sizeof({{_eventspace}}[0]));
        _count += _chunk_count[_chunk];
    }
    {% else %}
    long _count = 0;
    for(size_t _idx=0; _idx<N; _idx++)
    {
        const size_t _vectorisation_idx = _idx;
        {{vector_code|autoindent}}
        {% if _uses_refractory %}
        if(_cond) {
            {{_eventspace}}[_count++] = _idx;
            {{not_refractory}}[_idx] = false;
            {{lastspike}}[_idx] = {{t}};
        }
        {% else %}
        {{_eventspace}}[_count] = _idx;
        _count += (_cond != 0);
        {% endif %}
    }
    {% endif %}
    {{_eventspace}}[N] = _count;
{% endblock %}

{% block extra_headers %}
#include <cstring>
{% endblock %}

{% block after_code %}
{% set _eventspace = get_array_name(eventspace_variable) %}
{{_eventspace}}[N] = 0;  // Note that this is not an off-by-1-error: the array has N+1 elements
{% endblock %}
