{# A layer's spikes in one step, every event space (sign and burst weight) in one pass (LayerEventRecord): the
   population count of each sign, and each spike of the sampled block [_sample_start, _sample_stop) with its
   step and sign. #}
{# USES_VARIABLES { t_in_timesteps, _sample_start, _sample_stop } #}
{% extends 'common_group.cpp' %}

{% block maincode %}
    const int32_t _step = {{t_in_timesteps}} + 1;
    int32_t _positive = 0;
    int32_t _negative = 0;
    {% for name, sign, spikes, units, cost in event_spaces %}
    {
        const int32_t * __restrict _space = {{ get_array_name(variables[name]) }};
        const int32_t _n_spikes = _space[_num{{name}} - 1];
        {{ '_positive' if sign == '+' else '_negative' }} += _n_spikes * {{ spikes }};
        // a space lists its neurons in increasing order (as Brian2's own monitors assume): find the sample's first
        // by bisection, so that a step costs the sampled spikes, not a pass over every spike of the layer
        int32_t _lo = 0, _hi = _n_spikes;
        while (_lo < _hi)
        {
            const int32_t _mid = _lo + (_hi - _lo) / 2;
            if (_space[_mid] < _sample_start) _lo = _mid + 1; else _hi = _mid;
        }
        for (int32_t _j = _lo; _j < _n_spikes && _space[_j] < _sample_stop; _j++)
        for (int _k = 0; _k < {{ spikes }}; _k++)  // an event of k spikes: k entries
        {
            {{ get_array_name(variables['sample_neuron'], access_data=False) }}.push_back(_space[_j] - _sample_start);
            {{ get_array_name(variables['sample_step'], access_data=False) }}.push_back(_step);
            {{ get_array_name(variables['sample_sign'], access_data=False) }}.push_back({{ sign }}1);
        }
    }
    {% endfor %}
    {{ get_array_name(variables['population_positive'], access_data=False) }}.push_back(_positive);
    {{ get_array_name(variables['population_negative'], access_data=False) }}.push_back(_negative);
{% endblock %}
