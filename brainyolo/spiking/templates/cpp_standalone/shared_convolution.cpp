{# Weight-shared, event-driven convolution: source spikes -> target v.        #}
{# Neurons are position-major, channel-minor; _kernel is [c][dy][dx][f].      #}
{# USES_VARIABLES { _spikespace, _target_v, _kernel, synaptic_events, _row_count, _row_pairs,
                    _col_count, _col_pairs, _C, _H, _W, _F, _OH, _OW, _K, _S, _P } #}
{% extends 'common_group.cpp' %}

{% block maincode %}
    {% set spaces = [(_spikespace, '1')] %}
    {% if signed %}
    {% set spaces = spaces + [(_negative_spikespace, '-1')] %}
    {% endif %}
    int64_t _events_this_step = 0;
    {{ openmp_pragma('parallel') }}
    {
        const int _n_threads = {{ openmp_pragma('get_num_threads') }};
        const int _thread = {{ openmp_pragma('get_thread_num') }};
        // Each thread owns a contiguous range of output channels: no write conflicts.
        const int _f_begin = (int)(((int64_t)_F * _thread) / _n_threads);
        const int _f_end = (int)(((int64_t)_F * (_thread + 1)) / _n_threads);
        int64_t _my_events = 0;
        {% for space, sign in spaces %}
        {
            const int32_t _n_spikes = {{space}}[_num_spikespace - 1];
            for (int32_t _s = 0; _s < _n_spikes; _s++)
            {
                const int32_t _pre = {{space}}[_s];
                const int _c = _pre % _C;
                const int _position = _pre / _C;
                const int _y = _position / _W;
                const int _x = _position % _W;
                // lookup tables: (kernel offset, output position) pairs per input row / column
                const int32_t * _rows = {{_row_pairs}} + 2 * _K * _y;
                const int32_t * _cols = {{_col_pairs}} + 2 * _K * _x;
                const int _n_rows = {{_row_count}}[_y];
                const int _n_cols = {{_col_count}}[_x];
                for (int _r = 0; _r < _n_rows; _r++)
                {
                    const int _dy = _rows[2 * _r], _oy = _rows[2 * _r + 1];
                    for (int _q = 0; _q < _n_cols; _q++)
                    {
                        const int _dx = _cols[2 * _q], _ox = _cols[2 * _q + 1];
                        {{c_data_type(variables['_target_v'].dtype)}} * __restrict _post =
                            {{_target_v}} + ((int64_t)_oy * _OW + _ox) * _F;
                        const {{c_data_type(variables['_kernel'].dtype)}} * __restrict _w =
                            {{_kernel}} + (((int64_t)_c * _K + _dy) * _K + _dx) * _F;
                        for (int _f = _f_begin; _f < _f_end; _f++)
                            _post[_f] {{ '+=' if sign == '1' else '-=' }} _w[_f];
                    }
                }
                _my_events += (int64_t)_n_rows * _n_cols * (_f_end - _f_begin);
            }
        }
        {% endfor %}
        {% if openmp_pragma('with_openmp') %}
        #pragma omp atomic
        {% endif %}
        _events_this_step += _my_events;
    }
    {{synaptic_events}}[0] += _events_this_step;
{% endblock %}
